# krsie_warnings: an interface target every KRSIE-owned target links, so our code builds
# clean with -Wall -Wextra (and -Werror unless KRSIE_WERROR=OFF). Third-party headers are
# included as SYSTEM so their warnings never leak in; generated ANTLR code gets -w instead.
add_library(krsie_warnings INTERFACE)
target_compile_options(krsie_warnings INTERFACE
  # Designated initializers that omit defaulted members are intended (C++20 style).
  $<$<COMPILE_LANGUAGE:C,CXX>:-Wall -Wextra -Wshadow=local -Wnon-virtual-dtor -Wno-missing-field-initializers>
  $<$<AND:$<BOOL:${KRSIE_WERROR}>,$<COMPILE_LANGUAGE:C,CXX>>:-Werror>)
