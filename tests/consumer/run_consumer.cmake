# Installs the built Hemingway into a fresh prefix, then configures, builds
# and runs tests/consumer against it. Fails on any step.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer project: ${what} failed (${rc})\n${out}\n${err}")
  endif()
  message(STATUS "${what}: ok\n${out}")
endfunction()

run_step("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
# Only public headers are installed.
file(GLOB_RECURSE internal RELATIVE ${WORK_DIR}/prefix/include
  ${WORK_DIR}/prefix/include/hemingway/*/detail/*.h
  ${WORK_DIR}/prefix/include/hemingway/*/launcher/*.h
  ${WORK_DIR}/prefix/include/hemingway/*/report/*.h)
if(internal)
  message(FATAL_ERROR "consumer project: internal headers were installed: ${internal}")
endif()
if(NOT EXISTS ${WORK_DIR}/prefix/include/hemingway/plugin/data_parallel.h)
  message(FATAL_ERROR "consumer project: public header plugin/data_parallel.h was not installed")
endif()
run_step("configure" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK_DIR}/build
  -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release)
run_step("build" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run_step("run" ${WORK_DIR}/build/consumer)
