# Test registration: unit tests (cmocka), integration tests (C and shell, against a private
# PostgreSQL cluster started once per ctest run by the `pg` fixture), fuzz corpora replays.

file(GLOB DM_TESTLIB_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/lib/*.c)
add_library(dmtest STATIC ${DM_TESTLIB_SOURCES})
target_link_libraries(dmtest PUBLIC diamondlib PkgConfig::CMOCKA)
target_include_directories(dmtest PUBLIC ${CMAKE_SOURCE_DIR}/tests/lib)

set(DM_TEST_ENV
  "DIAMOND_BIN=$<TARGET_FILE:diamond>"
  "DM_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
  "DM_BUILD_DIR=${CMAKE_BINARY_DIR}"
  "DM_TEST_PG_ENV=${CMAKE_BINARY_DIR}/testpg/env"
  "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1"
  "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
  "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp")

# Unit tests: pure logic, no database.
file(GLOB DM_UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src ${DM_UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE dmtest)
  add_test(NAME unit.${name} COMMAND ${name})
  set_tests_properties(unit.${name} PROPERTIES LABELS unit ENVIRONMENT "${DM_TEST_ENV}")
endforeach()

# The private PostgreSQL cluster shared by integration tests (each test makes its own database).
add_test(NAME pg.start COMMAND bash ${CMAKE_SOURCE_DIR}/tests/lib/pg-fixture.sh start ${CMAKE_BINARY_DIR}/testpg)
add_test(NAME pg.stop COMMAND bash ${CMAKE_SOURCE_DIR}/tests/lib/pg-fixture.sh stop ${CMAKE_BINARY_DIR}/testpg)
set_tests_properties(pg.start PROPERTIES FIXTURES_SETUP pg ENVIRONMENT "${DM_TEST_ENV}")
set_tests_properties(pg.stop PROPERTIES FIXTURES_CLEANUP pg ENVIRONMENT "${DM_TEST_ENV}")

# Integration tests in C (cmocka) and in shell.
file(GLOB DM_IT_C CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/test_*.c)
foreach(src ${DM_IT_C})
  get_filename_component(name ${src} NAME_WE)
  add_executable(it_${name} ${src})
  target_link_libraries(it_${name} PRIVATE dmtest)
  add_test(NAME it.${name} COMMAND it_${name})
  set_tests_properties(it.${name} PROPERTIES LABELS integration FIXTURES_REQUIRED pg
    ENVIRONMENT "${DM_TEST_ENV}" TIMEOUT 600)
endforeach()
file(GLOB DM_IT_SH CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/*.sh)
foreach(src ${DM_IT_SH})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME it.${name} COMMAND bash ${src})
  # exit 77: skipped, saying why (a prerequisite not in the tree yet)
  set_tests_properties(it.${name} PROPERTIES LABELS integration FIXTURES_REQUIRED pg
    ENVIRONMENT "${DM_TEST_ENV}" TIMEOUT 900 SKIP_RETURN_CODE 77)
endforeach()

# Fuzz drivers: with DM_FUZZ (clang) real libFuzzer binaries; always a corpus replay test.
file(GLOB DM_FUZZ_DRIVERS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
foreach(src ${DM_FUZZ_DRIVERS})
  get_filename_component(name ${src} NAME_WE)
  string(REGEX REPLACE "^fuzz_" "" short ${name})
  add_executable(replay_${short} ${src} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.c)
  target_link_libraries(replay_${short} PRIVATE diamondlib)
  add_test(NAME fuzz.${short} COMMAND replay_${short} ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${short})
  set_tests_properties(fuzz.${short} PROPERTIES LABELS fuzz ENVIRONMENT "${DM_TEST_ENV}")
  if(DM_FUZZ)
    add_executable(${name} ${src})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${name} PRIVATE diamondlib)
  endif()
endforeach()

# Structure: dependencies run one way (tests/structure/layers.sh, docs/architecture.md "Layers").
add_test(NAME structure.layers COMMAND bash ${CMAKE_SOURCE_DIR}/tests/structure/layers.sh ${CMAKE_SOURCE_DIR}/src)
set_tests_properties(structure.layers PROPERTIES LABELS structure)
# ... and layers.sh itself reports each kind of violation (seeded into a copy of src/).
add_test(NAME structure.layers_rules COMMAND bash ${CMAKE_SOURCE_DIR}/tests/structure/layers_rules.sh ${CMAKE_SOURCE_DIR}/src)
set_tests_properties(structure.layers_rules PROPERTIES LABELS structure)
