# Install rules: headers, libraries, libmeter.pc and the CMake package
# (find_package(libmeter) -> libmeter::meter).
include(CMakePackageConfigHelpers)

install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")

install(TARGETS meter meter_static
        EXPORT libmeterTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(EXPORT libmeterTargets
        NAMESPACE libmeter::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/libmeter)

configure_package_config_file(cmake/libmeterConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/libmeterConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/libmeter)
write_basic_package_version_file(
  ${CMAKE_CURRENT_BINARY_DIR}/libmeterConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/libmeterConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/libmeterConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/libmeter)

set(METER_PC_REQUIRES_PRIVATE "libcurl libcjson openssl sqlite3")
if(METER_WITH_POSTGRES)
  string(APPEND METER_PC_REQUIRES_PRIVATE " libpq")
endif()
# Relocatable: the prefix is found relative to the .pc file itself, so an
# install with `cmake --install --prefix` elsewhere still works.
file(RELATIVE_PATH METER_PC_RELATIVE_PREFIX
  ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" METER_PC_RELATIVE_PREFIX "${METER_PC_RELATIVE_PREFIX}")
configure_file(cmake/libmeter.pc.in ${CMAKE_CURRENT_BINARY_DIR}/libmeter.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/libmeter.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
