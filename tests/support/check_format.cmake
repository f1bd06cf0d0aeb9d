# Fails when clang-format would change a C++ file of the project.
file(GLOB_RECURSE sources RELATIVE ${SOURCE_DIR}
  ${SOURCE_DIR}/hooks/*.h ${SOURCE_DIR}/hooks/*.cc
  ${SOURCE_DIR}/plugin/*.h ${SOURCE_DIR}/plugin/*.cc
  ${SOURCE_DIR}/adaptive/*.h ${SOURCE_DIR}/adaptive/*.cc
  ${SOURCE_DIR}/examples/*.cc ${SOURCE_DIR}/tests/*.h ${SOURCE_DIR}/tests/*.cc)
set(bad "")
foreach(f ${sources})
  execute_process(COMMAND ${CLANG_FORMAT} --dry-run --Werror ${SOURCE_DIR}/${f}
    RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(NOT rc EQUAL 0)
    list(APPEND bad ${f})
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "clang-format would change: ${bad}\nRun: clang-format -i <files>")
endif()
list(LENGTH sources n)
message(STATUS "${n} files formatted")
