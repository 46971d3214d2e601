# krsie_antlr_generate(<target> GRAMMAR <file.g4> NAMESPACE <ns>)
#
# Generates the C++ lexer/parser/visitor from an ANTLR4 grammar at build time with Debian's
# antlr4 tool and builds them into a static library <target>. Debian's antlr4.jar has no
# Class-Path, so the tool is started with an explicit class path; ANTLR also insists on absolute
# paths. Generated code is compiled with -w: it is not ours to fix.
set(KRSIE_ANTLR_CLASSPATH
  /usr/share/java/antlr4.jar:/usr/share/java/antlr4-runtime.jar:/usr/share/java/antlr3-runtime.jar:/usr/share/java/stringtemplate4.jar:/usr/share/java/treelayout.jar)
foreach(jar antlr4 antlr4-runtime antlr3-runtime stringtemplate4 treelayout)
  if(NOT EXISTS /usr/share/java/${jar}.jar)
    message(FATAL_ERROR "missing /usr/share/java/${jar}.jar: run scripts/setup (Debian package antlr4)")
  endif()
endforeach()

function(krsie_antlr_generate target)
  cmake_parse_arguments(ARG "" "GRAMMAR;NAMESPACE" "" ${ARGN})
  get_filename_component(grammar_abs ${ARG_GRAMMAR} ABSOLUTE)
  get_filename_component(name ${grammar_abs} NAME_WE)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/antlr/${name})
  set(sources
    ${out}/${name}Lexer.cpp ${out}/${name}Parser.cpp
    ${out}/${name}Visitor.cpp ${out}/${name}BaseVisitor.cpp)
  set(headers
    ${out}/${name}Lexer.h ${out}/${name}Parser.h
    ${out}/${name}Visitor.h ${out}/${name}BaseVisitor.h)
  add_custom_command(
    OUTPUT ${sources} ${headers}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
    COMMAND ${Java_JAVA_EXECUTABLE} -cp ${KRSIE_ANTLR_CLASSPATH} org.antlr.v4.Tool
            -Dlanguage=Cpp -visitor -no-listener -Werror -package ${ARG_NAMESPACE}
            -Xexact-output-dir -o ${out} ${grammar_abs}
    DEPENDS ${grammar_abs}
    COMMENT "ANTLR4: generating ${name} parser"
    VERBATIM)
  add_library(${target} STATIC ${sources})
  target_include_directories(${target} SYSTEM PUBLIC ${out})
  target_link_libraries(${target} PUBLIC krsie_antlr)
  # ANTLR 4.7.2 output predates char8_t.
  target_compile_options(${target} PRIVATE -w -fno-char8_t)
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()
