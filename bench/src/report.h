/* Results as rows of named fields: printed as an aligned table for people
 * and as JSON lines for scripts. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdio.h>

#define ROW_FIELDS 40

struct row {
    int n;
    struct {
        const char *key;
        char val[112];
        int num;
    } f[ROW_FIELDS];
};

void row_str(struct row *r, const char *key, const char *v);
void row_num(struct row *r, const char *key, double v, int decimals);
void row_int(struct row *r, const char *key, long long v);

/* Columns are those of rows[0]; `title` goes above. */
void report_table(FILE *f, const char *title, const struct row *rows, int nrows);
void report_json(FILE *f, const struct row *r);

#endif
