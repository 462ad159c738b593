/*
 * kmeans: k-means clustering as a command-style Motivus algorithm (built by mvcc).
 *
 *   kmeans [-k K] [-i INPUT] [-o OUTPUT]
 *
 * Input, in this order of preference:
 *   - the task's params `[points, k]`, which the loader writes to /motivus/params.json;
 *   - INPUT (default /input/points.txt), a file the driver sends with preload_files: one
 *     point per line, numbers separated by spaces or commas.
 * Settings: /etc/kmeans.conf comes from the project's filesystem/ directory, packed into
 *   the package's data.zip and mounted at / before main runs.
 * Output:
 *   - OUTPUT (default /output/labels.txt), one label per line, for result_files;
 *   - /motivus/data.json, which the loader returns to the driver as the task's data;
 *   - a summary on stdout; errors on stderr with a non-zero exit status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kmeans.h"

#define PARAMS_FILE "/motivus/params.json"
#define DATA_FILE "/motivus/data.json"
#define CONFIG_FILE "/etc/kmeans.conf"

static char *read_file(const char *path) {
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
    size = (long)fread(text, 1, (size_t)size, f);
    text[size] = '\0';
    fclose(f);
    return text;
}

/* Reads `key = value` integer settings; a missing file keeps the defaults. */
static void read_config(long *k, int *max_iterations) {
    FILE *f = fopen(CONFIG_FILE, "r");
    char line[256];
    if (f == NULL) {
        return;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        char key[64];
        long value;
        if (line[0] == '#' || sscanf(line, " %63[a-z_] = %ld", key, &value) != 2) {
            continue;
        }
        if (strcmp(key, "k") == 0) {
            *k = value;
        } else if (strcmp(key, "max_iterations") == 0) {
            *max_iterations = (int)value;
        }
    }
    fclose(f);
}

static void make_parent(const char *path) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *slash = strchr(dir + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(dir, 0755);
        *slash = '/';
    }
}

int main(int argc, char **argv) {
    const char *input = "/input/points.txt";
    const char *output = "/output/labels.txt";
    char error[512];
    long k = 2, k_arg = 0;
    int max_iterations = 300, iterations, *labels;
    points_t points = {0};
    char *params;
    FILE *out;

    read_config(&k, &max_iterations);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-k") == 0 && i + 1 < argc) {
            k_arg = strtol(argv[++i], NULL, 10);
            if (k_arg < 1) {
                fprintf(stderr, "kmeans: -k must be a positive integer, not %s\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc) {
            input = argv[++i];
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            output = argv[++i];
        } else {
            fprintf(stderr, "kmeans: unknown argument %s\nusage: kmeans [-k K] [-i INPUT] [-o OUTPUT]\n", argv[i]);
            return 2;
        }
    }

    params = read_file(PARAMS_FILE);
    if (params != NULL && strcmp(params, "null") != 0 && params[0] != '\0') {
        if (parse_params(params, &points, &k, error, sizeof error) != 0) {
            fprintf(stderr, "kmeans: %s\n", error);
            return 2;
        }
    } else if (read_points(input, &points, error, sizeof error) != 0) {
        fprintf(stderr, "kmeans: %s\n", error);
        return 2;
    }
    free(params);
    if (k_arg > 0) {
        k = k_arg;
    }
    if (k < 1) {
        fprintf(stderr, "kmeans: k must be a positive integer, not %ld\n", k);
        return 2;
    }

    labels = malloc((points.count ? points.count : 1) * sizeof(int));
    iterations = kmeans(&points, (size_t)k, max_iterations, labels);
    printf("kmeans: %zu points, %zu dimensions, k = %ld, %d iterations\n", points.count, points.dims, k,
           iterations);

    make_parent(output);
    out = fopen(output, "w");
    if (out == NULL) {
        fprintf(stderr, "kmeans: cannot write %s\n", output);
        return 1;
    }
    for (size_t i = 0; i < points.count; i++) {
        fprintf(out, "%d\n", labels[i]);
    }
    fclose(out);

    make_parent(DATA_FILE);
    out = fopen(DATA_FILE, "w");
    if (out != NULL) {
        fputs("[", out);
        for (size_t i = 0; i < points.count; i++) {
            fprintf(out, i ? ", %d" : "%d", labels[i]);
        }
        fputs("]\n", out);
        fclose(out);
    }
    free(labels);
    free_points(&points);
    return 0;
}
