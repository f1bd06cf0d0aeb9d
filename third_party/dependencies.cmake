# Finds Hemingway's dependencies (Debian packages, see third_party/packages.txt)
# and says which package to install when one is missing.

function(hemingway_require_package name debian)
  find_package(${name} ${ARGN} QUIET)
  if(NOT ${name}_FOUND)
    message(FATAL_ERROR
      "Hemingway: missing ${name}. Install it with: sudo apt-get install ${debian}"
      " (or run third_party/install.sh, which installs every dependency).")
  endif()
endfunction()

hemingway_require_package(Torch libtorch-dev)
hemingway_require_package(fmt libfmt-dev)
hemingway_require_package(Eigen3 libeigen3-dev)
hemingway_require_package(nlohmann_json nlohmann-json3-dev)
hemingway_require_package(ZLIB zlib1g-dev)
# Gloo's headers are needed to compile against ProcessGroupGloo; the elastic
# group also calls Gloo's TCP device directly (a 1 ms tick on its loop), so
# libgloo is in the plugin's link interface.
hemingway_require_package(Gloo libgloo-dev)
# Flag parsing of the tools, examples and benchmarks only: a library-only
# build (all HEMINGWAY_BUILD_* off) does not need it.
if(HEMINGWAY_BUILD_TOOLS OR HEMINGWAY_BUILD_EXAMPLES OR HEMINGWAY_BUILD_BENCHMARKS)
  hemingway_require_package(CLI11 libcli11-dev)
endif()
if(HEMINGWAY_BUILD_TESTS)
  hemingway_require_package(GTest libgtest-dev)
endif()
