/*
 * libmeter — common definitions shared by every public header.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef METER_COMMON_H
#define METER_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
# define METER_BEGIN_DECL extern "C" {
# define METER_END_DECL   }
#else
# define METER_BEGIN_DECL
# define METER_END_DECL
#endif

/*
 * METER_EXTERN(type) marks a function of the public ABI. The library is built
 * with hidden visibility, so only these symbols are exported from libmeter.so.
 * Define METER_STATIC when linking the static library on Windows.
 */
#if defined(_WIN32) && !defined(METER_STATIC)
# if defined(METER_BUILDING_LIBRARY)
#  define METER_EXTERN(type) __declspec(dllexport) type
# else
#  define METER_EXTERN(type) __declspec(dllimport) type
# endif
#elif defined(__GNUC__) && __GNUC__ >= 4
# define METER_EXTERN(type) __attribute__((visibility("default"))) type
#else
# define METER_EXTERN(type) type
#endif

/* Calling convention of callbacks handed to the library. */
#if defined(_WIN32)
# define METER_CALLBACK(name) (__cdecl *name)
#else
# define METER_CALLBACK(name) (*name)
#endif

#endif /* METER_COMMON_H */
