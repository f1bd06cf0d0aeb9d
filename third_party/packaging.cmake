# Install and export Hemingway so that a user's project can do
#   find_package(Hemingway REQUIRED)
#   target_link_libraries(app PRIVATE hemingway::plugin)
include(CMakePackageConfigHelpers)

set(HEMINGWAY_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Hemingway)
set(HEMINGWAY_EXPORTED_TARGETS hemingway_hooks hemingway_data hemingway_plugin hemingway_elastic
  hemingway_adaptive hemingway_controller)

install(TARGETS ${HEMINGWAY_EXPORTED_TARGETS}
  EXPORT HemingwayTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
foreach(tool hemingway-run hemingway-train hemingway-report)
  if(TARGET ${tool})
    install(TARGETS ${tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()
foreach(module hooks plugin adaptive)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${module}
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/hemingway
    FILES_MATCHING PATTERN "*.h"
    # Internals stay out of the install tree: no public header includes them.
    PATTERN "detail" EXCLUDE
    PATTERN "launcher" EXCLUDE
    PATTERN "report" EXCLUDE)
endforeach()

install(EXPORT HemingwayTargets
  NAMESPACE hemingway::
  DESTINATION ${HEMINGWAY_CMAKE_DIR})
configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/HemingwayConfig.cmake.in
  ${PROJECT_BINARY_DIR}/HemingwayConfig.cmake
  INSTALL_DESTINATION ${HEMINGWAY_CMAKE_DIR})
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/HemingwayConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/HemingwayConfig.cmake
  ${PROJECT_BINARY_DIR}/HemingwayConfigVersion.cmake
  DESTINATION ${HEMINGWAY_CMAKE_DIR})
