#include "kmeans.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

static double distance2(const double *a, const double *b, size_t dims) {
    double sum = 0.0;
    for (size_t d = 0; d < dims; d++) {
        double diff = a[d] - b[d];
        sum += diff * diff;
    }
    return sum;
}

/* The points stored by dimension (one column per dimension, padded to whole lanes), so that
 * the distance loop works on LANES points at once: SIMD registers, natively and in wasm
 * (SIMD128), while each point's sum still adds its dimensions in order (the same labels as a
 * loop per point). The lane loops have a constant trip count, which compilers unroll and
 * vectorise, keeping the sums in registers. */
#define LANES 8

static double *to_columns(const points_t *p, size_t stride) {
    double *columns = calloc(stride * p->dims, sizeof(double));
    for (size_t i = 0; i < p->count; i++) {
        for (size_t d = 0; d < p->dims; d++) {
            columns[d * stride + i] = p->xs[i * p->dims + d];
        }
    }
    return columns;
}

/* The index of each point's nearest centroid (the first of equals). */
static void nearest_all(const double *columns, size_t count, size_t stride, const double *centroids, size_t k,
                        size_t dims, int *out) {
    for (size_t start = 0; start < count; start += LANES) {
        double best_d[LANES];
        int best[LANES];
        for (size_t j = 0; j < LANES; j++) {
            best_d[j] = DBL_MAX;
            best[j] = 0;
        }
        for (size_t c = 0; c < k; c++) {
            double dist[LANES] = {0};
            for (size_t d = 0; d < dims; d++) {
                const double y = centroids[c * dims + d];
                const double *column = columns + d * stride + start;
                for (size_t j = 0; j < LANES; j++) {
                    double diff = column[j] - y;
                    dist[j] += diff * diff;
                }
            }
            for (size_t j = 0; j < LANES; j++) {
                if (dist[j] < best_d[j]) {
                    best_d[j] = dist[j];
                    best[j] = (int)c;
                }
            }
        }
        for (size_t j = 0; j < LANES && start + j < count; j++) {
            out[start + j] = best[j];
        }
    }
}

/* Deterministic farthest-first initialisation: the first point, then repeatedly the point
 * farthest from every centroid chosen so far. */
static void farthest_first(const points_t *p, size_t k, double *centroids) {
    double *dist = malloc(p->count * sizeof(double));
    memcpy(centroids, p->xs, p->dims * sizeof(double));
    for (size_t i = 0; i < p->count; i++) {
        dist[i] = distance2(p->xs + i * p->dims, p->xs, p->dims);
    }
    for (size_t c = 1; c < k; c++) {
        size_t far = 0;
        for (size_t i = 1; i < p->count; i++) {
            if (dist[i] > dist[far]) {
                far = i;
            }
        }
        memcpy(centroids + c * p->dims, p->xs + far * p->dims, p->dims * sizeof(double));
        for (size_t i = 0; i < p->count; i++) {
            double d = distance2(p->xs + i * p->dims, p->xs + far * p->dims, p->dims);
            if (d < dist[i]) {
                dist[i] = d;
            }
        }
    }
    free(dist);
}

int kmeans(const points_t *p, size_t k, int max_iterations, int *labels) {
    size_t dims = p->dims;
    double *centroids, *sums, *columns;
    size_t *counts;
    size_t stride = (p->count + LANES - 1) / LANES * LANES;
    int *nearest;
    int iteration = 0;
    if (p->count == 0) {
        return 0;
    }
    if (k > p->count) {
        k = p->count;
    }
    centroids = malloc(k * dims * sizeof(double));
    sums = malloc(k * dims * sizeof(double));
    counts = malloc(k * sizeof(size_t));
    columns = to_columns(p, stride);
    nearest = malloc(p->count * sizeof(int));
    farthest_first(p, k, centroids);
    for (size_t i = 0; i < p->count; i++) {
        labels[i] = -1;
    }
    while (iteration < max_iterations) {
        int changed = 0;
        iteration++;
        nearest_all(columns, p->count, stride, centroids, k, dims, nearest);
        for (size_t i = 0; i < p->count; i++) {
            if (nearest[i] != labels[i]) {
                labels[i] = nearest[i];
                changed = 1;
            }
        }
        if (!changed) {
            break;
        }
        memset(sums, 0, k * dims * sizeof(double));
        memset(counts, 0, k * sizeof(size_t));
        for (size_t i = 0; i < p->count; i++) {
            counts[labels[i]]++;
            for (size_t d = 0; d < dims; d++) {
                sums[labels[i] * dims + d] += p->xs[i * dims + d];
            }
        }
        for (size_t c = 0; c < k; c++) {
            if (counts[c] > 0) {
                for (size_t d = 0; d < dims; d++) {
                    centroids[c * dims + d] = sums[c * dims + d] / (double)counts[c];
                }
            }
        }
    }
    /* Renumber in order of first appearance, so results do not depend on initialisation. */
    {
        int *mapping = malloc(k * sizeof(int));
        int next = 0;
        for (size_t c = 0; c < k; c++) {
            mapping[c] = -1;
        }
        for (size_t i = 0; i < p->count; i++) {
            if (mapping[labels[i]] < 0) {
                mapping[labels[i]] = next++;
            }
            labels[i] = mapping[labels[i]];
        }
        free(mapping);
    }
    free(centroids);
    free(sums);
    free(counts);
    free(columns);
    free(nearest);
    return iteration;
}

void free_points(points_t *points) {
    free(points->xs);
    points->xs = NULL;
    points->count = points->dims = 0;
}
