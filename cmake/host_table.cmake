# host_table.cmake: the built-in host profile as a C table (models/host.h,
# struct host_profile_table), generated at configure time from the profile's JSON
# (scenarios/hosts/reference.json), so that a run with the default host builds its
# profile from constants instead of parsing 23 KB of JSON (issue 15: that parse was
# ~0.15-0.3 ms of every run's loading).
#   host_profile_c_table(VAR FILE): VAR = C definitions of host_profile_reference_table.
# Numbers are written as CMake's JSON parser (jsoncpp, reading with strtod's
# rounding) gives them back, 17 significant digits: a double read and printed so
# reads back as the same double, so the table holds the values cJSON parses from the
# file; tests/test_host.c checks that the profile built from the table equals the
# one parsed from the file, field by field and bit for bit. Every field the JSON
# reader uses must be in the file: a missing one stops the configuration (the
# reader's defaults are not repeated here).

if(CMAKE_VERSION VERSION_LESS 3.19)   # string(JSON) came in 3.19 (Debian 12 has 3.25)
  message(FATAL_ERROR "host_table.cmake: CMake 3.19 or later is needed to compile the built-in host profile in (this is ${CMAKE_VERSION})")
endif()

function(_host_json_get var json)
  string(JSON v ERROR_VARIABLE err GET "${json}" ${ARGN})
  if(err)
    message(FATAL_ERROR "host_table.cmake: the built-in host profile lacks ${ARGN}: ${err}")
  endif()
  set(${var} "${v}" PARENT_SCOPE)
endfunction()

# A C string literal of s (backslashes, quotes and control characters escaped).
function(_host_c_string var s)
  string(REPLACE "\\" "\\\\" s "${s}")
  string(REPLACE "\"" "\\\"" s "${s}")
  string(REPLACE "\n" "\\n" s "${s}")
  string(REPLACE "\r" "\\r" s "${s}")
  string(REPLACE "\t" "\\t" s "${s}")
  set(${var} "\"${s}\"" PARENT_SCOPE)
endfunction()

# {n, bins} of the histogram at json's path ARGN (its "hist": [[lo, hi, count], ...]);
# the bins as a static array named cname appended to the variable named by defs_var.
function(_host_hist var defs_var cname json)
  _host_json_get(obj "${json}" ${ARGN})
  _host_json_get(arr "${obj}" hist)
  string(JSON n LENGTH "${arr}")
  set(rows "")
  if(n GREATER 0)
    math(EXPR last "${n} - 1")
    foreach(i RANGE ${last})
      string(JSON lo GET "${arr}" ${i} 0)
      string(JSON hi GET "${arr}" ${i} 1)
      string(JSON c GET "${arr}" ${i} 2)
      string(APPEND rows "\t{ ${lo}, ${hi}, ${c} },\n")
    endforeach()
  else()
    set(rows "\t{ 0, 0, 0 },\n")
  endif()
  set(${defs_var} "${${defs_var}}static const double ${cname}[][3] = {\n${rows}};\n" PARENT_SCOPE)
  set(${var} "{ ${n}, ${cname} }" PARENT_SCOPE)
endfunction()

function(host_profile_c_table var file)
  file(READ ${file} j)
  _host_json_get(version "${j}" vcpusim_host_profile)
  if(NOT version EQUAL 1)
    message(FATAL_ERROR "host_table.cmake: ${file} is not a version 1 host profile")
  endif()
  _host_json_get(name "${j}" name)
  _host_c_string(name "${name}")
  # the one-line machine description, as models/host.c writes it
  _host_json_get(cpu "${j}" machine cpu_model)
  _host_json_get(cpus "${j}" machine cpus)
  _host_json_get(kernel "${j}" machine kernel)
  _host_json_get(measured "${j}" machine measured)
  if(NOT cpus MATCHES "^[0-9]+$")
    message(FATAL_ERROR "host_table.cmake: machine.cpus is not a whole number: ${cpus}")
  endif()
  _host_c_string(machine "${cpu}, ${cpus} CPUs, Linux ${kernel}, measured ${measured}")
  set(scalars "")
  foreach(k tsc_ghz tick_hz spin_iteration_ns ipi_ns tlb_flush_ns tlb_ipi_ns)
    _host_json_get(v "${j}" ${k})
    string(APPEND scalars "\t.${k} = ${v},\n")
  endforeach()
  _host_json_get(irqacct "${j}" irq_time_accounting)
  if(irqacct)
    string(APPEND scalars "\t.irq_time_accounting = 1,\n")
  else()
    string(APPEND scalars "\t.irq_time_accounting = 0,\n")
  endif()
  set(defs "")
  _host_hist(tl defs ref_timer_late "${j}" timer_latency_ns)
  _host_hist(vs defs ref_vcpu_switch "${j}" vcpu_switch_ns)
  set(classes "")
  foreach(c irq task)
    _host_json_get(rate "${j}" activity ${c} rate_hz)
    _host_hist(len defs ref_${c}_len "${j}" activity ${c} length_ns)
    _host_hist(iat defs ref_${c}_iat "${j}" activity ${c} interarrival_ns)
    string(APPEND classes "\t\t{ ${rate}, ${len}, ${iat} },\n")
  endforeach()
  set(${var} "${defs}
const struct host_profile_table host_profile_reference_table = {
\t.name = ${name},
\t.machine = ${machine},
${scalars}\t.timer_late = ${tl},
\t.vcpu_switch = ${vs},
\t.cls = {
${classes}\t},
};
" PARENT_SCOPE)
endfunction()
