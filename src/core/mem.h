/* Allocation wrappers that abort on out-of-memory: a server that cannot
 * allocate a few bytes cannot make progress, and checking every call site
 * hides the real error paths. */
#ifndef VN_CORE_MEM_H
#define VN_CORE_MEM_H

#include <stddef.h>

void *vn_xmalloc(size_t n);
void *vn_xcalloc(size_t nmemb, size_t n);
void *vn_xrealloc(void *p, size_t n);
char *vn_xstrdup(const char *s);
char *vn_xstrndup(const char *s, size_t n);

#endif
