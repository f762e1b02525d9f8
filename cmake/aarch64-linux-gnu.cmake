# Cross-compiling for AArch64 Linux on an x86-64 Debian machine (scripts/test-arm.sh):
# Debian's gcc-aarch64-linux-gnu, the arm64 multiarch -dev packages for PCRE2 and cJSON,
# and CTest running the test programs under qemu-user with the multiarch libc (the
# cross toolchain's own libc under /usr/aarch64-linux-gnu hangs in pthread_create under
# Debian 12's qemu 7.2).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
