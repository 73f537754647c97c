#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "vestnik: out of memory allocating %zu bytes\n", n);
    abort();
}

void *vn_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *vn_xcalloc(size_t nmemb, size_t n)
{
    void *p = calloc(nmemb ? nmemb : 1, n ? n : 1);
    if (!p) oom(nmemb * n);
    return p;
}

void *vn_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *vn_xstrdup(const char *s)
{
    return vn_xstrndup(s, strlen(s));
}

char *vn_xstrndup(const char *s, size_t n)
{
    char *p = vn_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
