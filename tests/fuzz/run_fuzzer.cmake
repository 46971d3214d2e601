# Runs krsie-fuzz-frontend for the fuzz/* ctest tests (tests/fuzz/CMakeLists.txt).
#   cmake -DMODE=corpus|smoke -DFUZZER=<krsie-fuzz-frontend> -DCORPUS_DIR=<dir> -DREGRESSIONS_DIR=<dir>
#         [-DWORK_DIR=<dir in the build tree> -DDICT=<krs.dict> -DRUNS=20000 -DMAX_TIME=60 -DSEED=1]
#         -P run_fuzzer.cmake
# MODE=corpus runs every seed (corpus/*.krs) and every regression input once, without fuzzing.
# MODE=smoke  fuzzes a fresh copy of the seeds in WORK_DIR (wiped first, so the fuzzer's new
#             inputs never land in the source tree) for a fixed budget. The regression inputs are
#             not seeds: fuzz/corpus runs them, and a known-bad one must fail that test only.
# Either fails on any crash, sanitizer report, leak, per-input timeout (-timeout) or RSS blow-up
# (-rss_limit_mb). The inputs are globbed here, at test time, so new seeds need no re-configure.
foreach(var MODE FUZZER CORPUS_DIR REGRESSIONS_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzzer.cmake: -D${var}=... is required")
  endif()
endforeach()

file(GLOB seeds ${CORPUS_DIR}/*.krs)
file(GLOB regressions ${REGRESSIONS_DIR}/*)
list(FILTER regressions EXCLUDE REGEX "/README[^/]*$")
if(NOT seeds)
  message(FATAL_ERROR "run_fuzzer.cmake: no seeds in ${CORPUS_DIR}")
endif()
set(limits -timeout=10 -rss_limit_mb=2048)

if(MODE STREQUAL "corpus")
  # One process per input, so that one bad input cannot hide the others.
  set(failed)
  foreach(input ${seeds} ${regressions})
    execute_process(COMMAND ${FUZZER} ${limits} ${input}
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    file(RELATIVE_PATH name ${CORPUS_DIR}/.. ${input})
    if(rc EQUAL 0)
      message(STATUS "ok      ${name}")
    else()
      message("${out}")
      message(STATUS "FAILED  ${name} (${rc})")
      list(APPEND failed ${name})
    endif()
  endforeach()
  list(LENGTH seeds n_seeds)
  list(LENGTH regressions n_regressions)
  if(failed)
    list(LENGTH failed n_failed)
    list(JOIN failed "\n  " failed_text)
    message(FATAL_ERROR "fuzz/corpus: ${n_failed} of ${n_seeds} seeds + ${n_regressions} regression inputs "
                        "failed:\n  ${failed_text}\nrerun one with: ${FUZZER} <file>")
  endif()
  message(STATUS "fuzz/corpus: ${n_seeds} seeds and ${n_regressions} regression inputs ran cleanly")
  return()
endif()

if(NOT MODE STREQUAL "smoke")
  message(FATAL_ERROR "run_fuzzer.cmake: MODE must be corpus or smoke, not '${MODE}'")
endif()
foreach(var WORK_DIR DICT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzzer.cmake: -D${var}=... is required with MODE=smoke")
  endif()
endforeach()
if(NOT DEFINED RUNS)
  set(RUNS 20000)
endif()
if(NOT DEFINED MAX_TIME)
  set(MAX_TIME 60)
endif()
if(NOT DEFINED SEED)
  set(SEED 1)  # fixed: the same mutations on every run, so a failure reproduces
endif()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/corpus ${WORK_DIR}/artifacts)
file(COPY ${seeds} DESTINATION ${WORK_DIR}/corpus)
execute_process(
  COMMAND ${FUZZER} ${limits}
    -runs=${RUNS} -max_total_time=${MAX_TIME} -max_len=4096 -seed=${SEED}
    -dict=${DICT} -print_final_stats=1 -artifact_prefix=${WORK_DIR}/artifacts/
    ${WORK_DIR}/corpus
  WORKING_DIRECTORY ${WORK_DIR}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(GLOB artifacts ${WORK_DIR}/artifacts/*)
  message(FATAL_ERROR "fuzz/smoke: krsie-fuzz-frontend failed (${rc}); reproducer(s): ${artifacts}\n"
                      "rerun one with: ${FUZZER} <file>")
endif()
