# krsie_warnings: an interface target every KRSIE-owned target links, so our code builds
# clean with -Wall -Wextra (and -Werror unless KRSIE_WERROR=OFF). Third-party headers are
# included as SYSTEM so their warnings never leak in; generated ANTLR code gets -w instead.
add_library(krsie_warnings INTERFACE)
target_compile_options(krsie_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:C,CXX>:-Wall -Wextra -Wshadow=local -Wnon-virtual-dtor>
  $<$<AND:$<BOOL:${KRSIE_WERROR}>,$<COMPILE_LANGUAGE:C,CXX>>:-Werror>)
