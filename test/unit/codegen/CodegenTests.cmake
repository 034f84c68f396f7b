# Registration of the codegen unit tests (included from test/unit/CMakeLists.txt
# when the compiler, and so StcKernelEmitter, is built).

# Build-time generator: patternToC output as host functions, for
# PatternToCTest's semantic check.
add_executable(codegen-pattern-cgen ${CMAKE_CURRENT_LIST_DIR}/PatternCGen.cpp)
target_link_libraries(codegen-pattern-cgen PRIVATE StcKernelEmitter)
set(STC_PATTERN_LAMBDAS ${CMAKE_CURRENT_BINARY_DIR}/codegen/PatternLambdas.inc)
add_custom_command(
  OUTPUT ${STC_PATTERN_LAMBDAS}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/codegen
  COMMAND codegen-pattern-cgen ${STC_PATTERN_LAMBDAS}
  DEPENDS codegen-pattern-cgen
  COMMENT "Printing test patterns as C"
  VERBATIM)

stc_unit_test(codegen-tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/KernelEmitterTest.cpp
          ${CMAKE_CURRENT_LIST_DIR}/PatternToCTest.cpp
          ${CMAKE_CURRENT_LIST_DIR}/ExampleKernelsTest.cpp
          ${STC_PATTERN_LAMBDAS}
  LIBS StcKernelEmitter
  LABELS codegen)
target_include_directories(codegen-tests PRIVATE ${CMAKE_CURRENT_BINARY_DIR}/codegen)
# ExampleKernelsTest compiles the kernels of every example's artifact.
target_compile_definitions(codegen-tests PRIVATE
  STC_TEST_ARTIFACT_DIR="${CMAKE_BINARY_DIR}/test-artifacts")
if(TARGET stc-test-artifacts)
  add_dependencies(codegen-tests stc-test-artifacts)
endif()

# NVRTC compiles every generated kernel for sm_90 (no GPU needed). Without the
# toolkit the compile cases skip.
find_package(CUDAToolkit QUIET)
if(CUDAToolkit_FOUND AND CUDA_nvrtc_LIBRARY)
  # The library itself, not CUDA::nvrtc: that target drags in the driver
  # (libcuda), which a machine without a GPU lacks, and NVRTC needs none.
  target_link_libraries(codegen-tests PRIVATE ${CUDA_nvrtc_LIBRARY})
  target_include_directories(codegen-tests SYSTEM PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
  string(REPLACE ";" "|" stc_cuda_includes "${CUDAToolkit_INCLUDE_DIRS}")
  target_compile_definitions(codegen-tests PRIVATE STC_HAVE_NVRTC=1
    "STC_CUDA_INCLUDE_DIRS=\"${stc_cuda_includes}\"")
else()
  message(STATUS "codegen-tests: CUDA toolkit (NVRTC) not found; the NVRTC "
                 "compile cases will be skipped")
endif()

# Optional, not a unit test (needs a GPU): every generated kernel run through
# the driver API and compared with the CPU reference ops. Build it explicitly
# (ninja codegen-gpu-check) and run it where there is a GPU.
if(CUDAToolkit_FOUND AND CUDA_nvrtc_LIBRARY AND TARGET CUDA::cuda_driver AND
   TARGET StcRuntime)
  add_executable(codegen-gpu-check EXCLUDE_FROM_ALL
    ${CMAKE_CURRENT_LIST_DIR}/GpuCheck.cpp)
  target_link_libraries(codegen-gpu-check PRIVATE StcKernelEmitter StcRuntime
                        ${CUDA_nvrtc_LIBRARY} CUDA::cuda_driver)
  target_include_directories(codegen-gpu-check SYSTEM PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
endif()
