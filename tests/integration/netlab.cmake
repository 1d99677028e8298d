# The tests that run in network namespaces, most of them in the network
# lab (tests/sim/netlab.py): "district" and "school" joined by a veth
# shaped with tc.
# Included by tests/integration/CMakeLists.txt after its test_*.py loop (it
# needs PYTHON3 and SIM_ENV; the loop's glob has already added the tests
# that exist, so a test is added here only if it is not there).
#
# Every lab test gets:
#   LABELS lab     scripts/test.sh runs them in the release build only
#                  (`ctest -LE lab` in the ASan build): they measure
#                  rates and round-trip times, which a sanitized build
#                  distorts, and they are the slow part of the suite, so
#                  running them twice would break its 15-minute budget.
#                  `ctest -L lab` runs just them.
#   RUN_SERIAL     (those that measure) up to 1 Gbit/s, or RTTs through
#                  a userspace delay line: nothing may run beside them
#                  under ctest -j, or the figures say more about the
#                  machine's load than about the code.
#   SKIP_RETURN_CODE 77  the kernel refuses namespaces (not root), or a
#                  program the lab needs is missing (scripts/deps.sh
#                  installs tests/sim/netlab-packages.txt).
#
# The tests, with their run times on the 2-core machine (release build,
# `ctest -L lab -j2`: 233 s, 219 s of it serial; the whole README test
# command, scripts/test.sh with fresh builds, took 14 min 4 s; measured
# 2026-11-22):
#   netlab          the lab itself: tbf at 80 and 1000 Mbit, delay,
#                   jitter, loss, the servers, cleanup (32 s)
#   probe_tcp_lab   the agent's TCP-connect prober through the lab (23 s)
#   probe_http_lab  agent/probe_http.c against iperf3 at 1000 Mbit,
#                   HTTP/RTSP checks (17 s)
#   probe_latency   latency rounds end to end through a County, with
#                   latency_high and loss_high (104 s)
#   lab_throughput  `probe --school` at 80/500/1000 Mbit vs iperf3, the
#                   throughput_low alert (43 s)
#   lab_recording   recording rooms (busybox httpd, gst-rtsp-server)
#                   unavailable and back, recording_unavailable (11 s)
#   linkcut         the school's link cut for 10 s in namespaces of its own
#                   (not netlab's), reports back-filled (14 s)
set(SCHOOLNET_LAB_TESTS
  netlab probe_tcp_lab probe_http_lab probe_latency lab_throughput lab_recording
  linkcut)
foreach(name ${SCHOOLNET_LAB_TESTS})
  if(NOT TEST integration_${name}
     AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/test_${name}.py)
    add_test(NAME integration_${name}
             COMMAND ${PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/test_${name}.py)
  endif()
  if(TEST integration_${name})
    set_tests_properties(integration_${name} PROPERTIES
      ENVIRONMENT "${SIM_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS lab)
  endif()
endforeach()
# Those that measure rates or RTTs run alone (see RUN_SERIAL above); the
# recording rooms and the link cut only need their checks and polls on
# time, and run beside other tests.
foreach(name netlab probe_tcp_lab probe_http_lab probe_latency lab_throughput)
  if(TEST integration_${name})
    set_tests_properties(integration_${name} PROPERTIES RUN_SERIAL TRUE)
  endif()
endforeach()
# Two minutes of latency rounds (delay, loss, a cut link, the replay, the
# alerts): room for a slow machine.
if(TEST integration_probe_latency)
  set_tests_properties(integration_probe_latency PROPERTIES TIMEOUT 480)
endif()
