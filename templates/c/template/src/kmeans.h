/* K-means clustering: the algorithm, independent of how it gets its input. */
#ifndef KMEANS_H
#define KMEANS_H

#include <stddef.h>

/* Points are stored row by row: point i is xs[i * dims .. i * dims + dims - 1]. */
typedef struct {
    double *xs;
    size_t count;
    size_t dims;
} points_t;

/* Clusters `points` into `k` groups; writes one label per point into `labels`, numbered in
 * order of first appearance. Returns the number of iterations run. */
int kmeans(const points_t *points, size_t k, int max_iterations, int *labels);

/* Reads whitespace- or comma-separated rows of numbers. Returns 0, or -1 with `error` set. */
int read_points(const char *path, points_t *points, char *error, size_t error_size);

/* Parses `[[x, y, ...], ...], k]` (the task's params) from JSON text. Returns 0, or -1. */
int parse_params(const char *json, points_t *points, long *k, char *error, size_t error_size);

void free_points(points_t *points);

#endif
