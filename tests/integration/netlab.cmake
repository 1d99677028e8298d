# The network lab's own test (tests/sim/netlab.py, test_netlab.py): two
# network namespaces joined by a veth, shaped with tc, iperf3, a busybox
# httpd and a gst-rtsp-server. Include this file from
# tests/integration/CMakeLists.txt after the test_*.py loop (it needs
# PYTHON3 and SIM_ENV); the loop's glob may already have added the test, so
# it is added here only if it is not there, and its properties set either
# way. It measures throughput at up to 1 Gbit/s, which takes both CPUs:
# RUN_SERIAL keeps ctest -j from running anything beside it (~40 s).
if(NOT TEST integration_netlab)
  add_test(NAME integration_netlab
           COMMAND ${PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/test_netlab.py)
endif()
set_tests_properties(integration_netlab PROPERTIES
  ENVIRONMENT "${SIM_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300 RUN_SERIAL TRUE)
