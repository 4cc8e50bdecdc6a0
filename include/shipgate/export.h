/* shipgate/export.h: SG_API marks what libshipgate.so exports.
 *
 * The library is built with -fvisibility=hidden, so only the declarations that carry
 * SG_API (the ones in include/shipgate/) are visible to programs that link it; the
 * internals stay private and may change between releases. */
#ifndef SHIPGATE_EXPORT_H
#define SHIPGATE_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define SG_API __attribute__((visibility("default")))
#else
#define SG_API
#endif

#endif
