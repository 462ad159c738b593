/* Reading points: from a text file (rows of numbers) or from the task's params (JSON). */
#include "kmeans.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double *values;
    size_t length, capacity;
} buffer_t;

static void push(buffer_t *b, double v) {
    if (b->length == b->capacity) {
        b->capacity = b->capacity ? b->capacity * 2 : 1024;
        b->values = realloc(b->values, b->capacity * sizeof(double));
    }
    b->values[b->length++] = v;
}

int read_points(const char *path, points_t *points, char *error, size_t error_size) {
    FILE *f = fopen(path, "r");
    buffer_t all = {0};
    char line[65536];
    size_t rows = 0, dims = 0, lineno = 0;
    if (f == NULL) {
        snprintf(error, error_size, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        size_t before = all.length;
        char *cursor = line;
        lineno++;
        for (;;) {
            char *end;
            double v;
            while (*cursor == ',' || isspace((unsigned char)*cursor)) {
                cursor++;
            }
            if (*cursor == '\0' || *cursor == '#') {
                break;
            }
            v = strtod(cursor, &end);
            if (end == cursor) {
                snprintf(error, error_size, "%s:%zu: not a number: %.20s", path, lineno, cursor);
                fclose(f);
                free(all.values);
                return -1;
            }
            push(&all, v);
            cursor = end;
        }
        if (all.length == before) {
            continue; /* blank or comment line */
        }
        if (rows == 0) {
            dims = all.length - before;
        } else if (all.length - before != dims) {
            snprintf(error, error_size, "%s:%zu: %zu numbers, but the first row has %zu", path, lineno,
                     all.length - before, dims);
            fclose(f);
            free(all.values);
            return -1;
        }
        rows++;
    }
    fclose(f);
    points->xs = all.values;
    points->count = rows;
    points->dims = dims;
    return 0;
}

/* A small parser for exactly the params shape this algorithm takes: [[[numbers]...], k]. */
typedef struct {
    const char *s;
    char *error;
    size_t error_size;
} parser_t;

static void skip(parser_t *p) {
    while (isspace((unsigned char)*p->s)) {
        p->s++;
    }
}

static int expect(parser_t *p, char c) {
    skip(p);
    if (*p->s != c) {
        snprintf(p->error, p->error_size, "params: expected '%c' at \"%.20s\"", c, p->s);
        return -1;
    }
    p->s++;
    return 0;
}

static int number(parser_t *p, double *out) {
    char *end;
    skip(p);
    *out = strtod(p->s, &end);
    if (end == p->s) {
        snprintf(p->error, p->error_size, "params: expected a number at \"%.20s\"", p->s);
        return -1;
    }
    p->s = end;
    return 0;
}

int parse_params(const char *json, points_t *points, long *k, char *error, size_t error_size) {
    parser_t p = {json, error, error_size};
    buffer_t all = {0};
    size_t rows = 0, dims = 0;
    double kv;
    if (expect(&p, '[') || expect(&p, '[')) {
        return -1;
    }
    skip(&p);
    while (*p.s != ']') {
        size_t before = all.length;
        if (rows > 0 && expect(&p, ',')) {
            goto fail;
        }
        if (expect(&p, '[')) {
            goto fail;
        }
        skip(&p);
        while (*p.s != ']') {
            double v;
            if (all.length > before && expect(&p, ',')) {
                goto fail;
            }
            if (number(&p, &v)) {
                goto fail;
            }
            push(&all, v);
            skip(&p);
        }
        p.s++;
        if (rows == 0) {
            dims = all.length - before;
        } else if (all.length - before != dims) {
            snprintf(error, error_size, "params: point %zu has %zu numbers, the first has %zu", rows,
                     all.length - before, dims);
            goto fail;
        }
        rows++;
        skip(&p);
    }
    p.s++;
    if (expect(&p, ',') || number(&p, &kv) || expect(&p, ']')) {
        goto fail;
    }
    points->xs = all.values;
    points->count = rows;
    points->dims = dims;
    *k = (long)kv;
    return 0;
fail:
    free(all.values);
    return -1;
}
