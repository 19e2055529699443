# Warnings and sanitizer flags shared by every target (STYLE.md "Tests and build").
add_compile_options(-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
                    -Wformat=2 -Wvla -fno-strict-aliasing)
if(HIGHRISE_WERROR)
  add_compile_options(-Werror)
endif()
add_compile_definitions(_GNU_SOURCE)
# Logs show source paths relative to the tree ("proto/tls.c:88"), not the build machine's.
add_compile_options(-fmacro-prefix-map=${CMAKE_SOURCE_DIR}/=)

if(HIGHRISE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

if(HIGHRISE_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "HIGHRISE_FUZZ needs clang: cmake -DCMAKE_C_COMPILER=clang")
  endif()
  # Libraries get coverage instrumentation; each fuzz target links libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# Environment for every test: fail hard on the first sanitizer report.
set(HIGHRISE_TEST_ENV
    "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
    "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
    "HIGHRISE_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    "HIGHRISE_BINARY_DIR=${CMAKE_BINARY_DIR}")

# highrise_unit_test(NAME SOURCES... LIBS ...): one executable per module.
function(highrise_unit_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/unit)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${HIGHRISE_TEST_ENV}" LABELS "unit;${T_LABELS}")
endfunction()
