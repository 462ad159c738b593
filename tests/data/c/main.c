/*
 * A command-style Motivus algorithm in C (see docs/c-cpp.md):
 *
 *   program NAME [--exit N] [--abort]
 *
 * - argv[1] is a name to greet;
 * - /share/greeting.txt comes from the project's filesystem/ directory (the package's
 *   .data.zip, unpacked at / before main);
 * - /input/numbers.txt is a preloaded file (the task's preload_files): its integers are summed;
 * - /output/result.txt is written when /output exists: the loader creates the parent
 *   directories of the task's result_files before main (docs/c-cpp.md), and this program
 *   does not, so a task that asks for it tests that;
 * - /motivus/params.json holds the task's params as JSON; /motivus/data.json, if written,
 *   becomes the task's `data` result;
 * - the exit status is the task's exitCode (--exit N returns N, --abort crashes).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "numbers.h"

/* Reads a whole text file into a malloc'ed string (NULL when it cannot be opened). */
static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    char *text;
    long size;
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = malloc((size_t)size + 1);
    if (fread(text, 1, (size_t)size, f) != (size_t)size) {
        size = 0;
    }
    text[size] = '\0';
    fclose(f);
    while (size > 0 && (text[size - 1] == '\n' || text[size - 1] == '\r')) {
        text[--size] = '\0';
    }
    return text;
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "nobody";
    int status = 0;
    long sum = 0, count = 0;
    char *greeting, *params;
    FILE *out;
    struct stat st;
    int i;

    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--exit") == 0 && i + 1 < argc) {
            status = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--abort") == 0) {
            fprintf(stderr, "aborting on request\n");
            abort();
        }
    }

    greeting = read_text("/share/greeting.txt");
    if (greeting == NULL) {
        fprintf(stderr, "no /share/greeting.txt: %s\n", strerror(errno));
        return 2;
    }
    printf("%s, %s!\n", greeting, name);
    fprintf(stderr, "working on %s\n", name);

    /* A file left by an earlier task would show that tasks share state (they must not). */
    printf("state: %s\n", stat("/state.txt", &st) == 0 ? "dirty" : "fresh");
    out = fopen("/state.txt", "w");
    fputs("touched\n", out);
    fclose(out);

    if (sum_numbers("/input/numbers.txt", &sum, &count) != 0) {
        printf("no input\n");
    }
    printf("sum=%ld count=%ld\n", sum, count);

    if (stat("/output", &st) == 0) {
        out = fopen("/output/result.txt", "w");
        if (out == NULL) {
            fprintf(stderr, "cannot write /output/result.txt: %s\n", strerror(errno));
            return 2;
        }
        fprintf(out, "%s: sum=%ld count=%ld\n", name, sum, count);
        fclose(out);
    }

    params = read_text("/motivus/params.json");
    out = fopen("/motivus/data.json", "w");
    /* params.json is JSON already: it is embedded as is. */
    fprintf(out, "{\"lang\": \"c\", \"name\": \"%s\", \"sum\": %ld, \"count\": %ld, \"params\": %s}\n",
            name, sum, count, params ? params : "null");
    fclose(out);
    free(params);
    free(greeting);
    return status;
}
