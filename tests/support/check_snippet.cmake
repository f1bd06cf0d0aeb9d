# The README's training-loop snippet must be examples/train_loop.cc, byte for
# byte: the first ```cpp block after the heading "## Use it in your training loop".
# Usage: cmake -DREADME=... -DPROGRAM=... -P check_snippet.cmake
file(READ ${README} readme)
file(READ ${PROGRAM} program)
string(FIND "${readme}" "## Use it in your training loop" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README has no section 'Use it in your training loop'")
endif()
string(SUBSTRING "${readme}" ${at} -1 section)
string(FIND "${section}" "```cpp\n" open)
if(open EQUAL -1)
  message(FATAL_ERROR "README's training-loop section has no ```cpp block")
endif()
math(EXPR open "${open} + 7")
string(SUBSTRING "${section}" ${open} -1 rest)
string(FIND "${rest}" "```\n" close)
string(SUBSTRING "${rest}" 0 ${close} snippet)
if(NOT snippet STREQUAL program)
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/readme_snippet.cc "${snippet}")
  message(FATAL_ERROR "README's training loop differs from ${PROGRAM}; compare with "
    "${CMAKE_CURRENT_BINARY_DIR}/readme_snippet.cc (diff -u)")
endif()
message(STATUS "README snippet == ${PROGRAM}")
