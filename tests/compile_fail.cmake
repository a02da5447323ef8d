# One compile-fail test (tests/compile_fail/*.cpp): compiles SOURCE with -fsyntax-only and
# passes only if the compiler rejects it with the message named by the file's
# `// expect: <text>` line within the first 20 lines of its output, so that the user's
# first screen of errors says what is wrong.
#
#   cmake -DCOMPILER=g++ -DSOURCE=file.cpp -DINCLUDES="a|b" -DDEFINES="X|Y" -P compile_fail.cmake
file(READ "${SOURCE}" source)
string(FIND "${source}" "// expect: " first)
string(FIND "${source}" "// expect: " last REVERSE)
if(first EQUAL -1 OR NOT first EQUAL last)
  message(FATAL_ERROR "${SOURCE}: needs exactly one `// expect: <text>` line")
endif()
math(EXPR first "${first} + 11")
string(SUBSTRING "${source}" ${first} -1 expect)
string(FIND "${expect}" "\n" eol)
string(SUBSTRING "${expect}" 0 ${eol} expect)

set(args -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic)
string(REPLACE "|" ";" includes "${INCLUDES}")
foreach(dir ${includes})
  list(APPEND args "-I${dir}")
endforeach()
string(REPLACE "|" ";" defines "${DEFINES}")
foreach(def ${defines})
  list(APPEND args "-D${def}")
endforeach()

execute_process(COMMAND "${COMPILER}" ${args} "${SOURCE}"
                RESULT_VARIABLE rc
                OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must fail with: ${expect}")
endif()

# The first 20 lines of the diagnostics (all of them if there are fewer).
set(head "${err}")
set(pos 0)
foreach(i RANGE 1 20)
  string(SUBSTRING "${err}" ${pos} -1 rest)
  string(FIND "${rest}" "\n" nl)
  if(nl EQUAL -1)
    set(pos -1)
    break()
  endif()
  math(EXPR pos "${pos} + ${nl} + 1")
endforeach()
if(NOT pos EQUAL -1)
  string(SUBSTRING "${err}" 0 ${pos} head)
endif()

string(FIND "${head}" "${expect}" found)
if(found EQUAL -1)
  string(FIND "${err}" "${expect}" anywhere)
  if(anywhere EQUAL -1)
    message(FATAL_ERROR "${SOURCE}: the compiler's output does not say `${expect}`:\n${err}")
  endif()
  message(FATAL_ERROR
          "${SOURCE}: `${expect}` is not within the first 20 lines of the output:\n${head}")
endif()
