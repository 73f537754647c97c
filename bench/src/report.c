#include "report.h"

#include <string.h>

static void add(struct row *r, const char *key, const char *v, int num)
{
    if (r->n == ROW_FIELDS) return;
    r->f[r->n].key = key;
    snprintf(r->f[r->n].val, sizeof r->f[r->n].val, "%s", v);
    r->f[r->n].num = num;
    r->n++;
}

void row_str(struct row *r, const char *key, const char *v)
{
    add(r, key, v ? v : "", 0);
}

void row_num(struct row *r, const char *key, double v, int decimals)
{
    char b[48];
    snprintf(b, sizeof b, "%.*f", decimals, v);
    add(r, key, b, 1);
}

void row_int(struct row *r, const char *key, long long v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    add(r, key, b, 1);
}

void report_table(FILE *f, const char *title, const struct row *rows, int nrows)
{
    if (nrows <= 0) return;
    const struct row *h = &rows[0];
    size_t w[ROW_FIELDS];
    for (int c = 0; c < h->n; c++) {
        w[c] = strlen(h->f[c].key);
        for (int i = 0; i < nrows; i++)
            if (c < rows[i].n && strlen(rows[i].f[c].val) > w[c]) w[c] = strlen(rows[i].f[c].val);
    }
    if (title) fprintf(f, "\n%s\n", title);
    for (int c = 0; c < h->n; c++)
        fprintf(f, "%s%*s", c ? "  " : "", (int)w[c], h->f[c].key);
    fputc('\n', f);
    for (int c = 0; c < h->n; c++) {
        fputs(c ? "  " : "", f);
        for (size_t k = 0; k < w[c]; k++)
            fputc('-', f);
    }
    fputc('\n', f);
    for (int i = 0; i < nrows; i++) {
        for (int c = 0; c < rows[i].n && c < h->n; c++)
            fprintf(f, "%s%*s", c ? "  " : "", (int)w[c], rows[i].f[c].val);
        fputc('\n', f);
    }
    fflush(f);
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void report_json(FILE *f, const struct row *r)
{
    fputc('{', f);
    for (int i = 0; i < r->n; i++) {
        if (i) fputc(',', f);
        json_str(f, r->f[i].key);
        fputc(':', f);
        if (r->f[i].num)
            fputs(r->f[i].val, f);
        else
            json_str(f, r->f[i].val);
    }
    fputs("}\n", f);
    fflush(f);
}
