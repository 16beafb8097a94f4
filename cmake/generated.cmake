# generated.cmake: helpers for the C files the build generates (plot templates, the
# built-in host profile, version.c).
#   write_if_changed(FILE TEXT): writes TEXT to FILE only when it differs, so an
#     unchanged input recompiles and relinks nothing.
#   c_bytes(VAR FILE): VAR = FILE's bytes as a C initialiser list "0x..,0x..,"
#     (followed by the caller's 0 terminator).
function(write_if_changed file text)
  set(old "")
  if(EXISTS ${file})
    file(READ ${file} old)
  endif()
  if(NOT "${old}" STREQUAL "${text}")
    file(WRITE ${file} "${text}")
  endif()
endfunction()

function(c_bytes var file)
  file(READ ${file} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  set(${var} "${hex}" PARENT_SCOPE)
endfunction()
