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

static size_t nearest(const double *x, const double *centroids, size_t k, size_t dims) {
    size_t best = 0;
    double best_d = DBL_MAX;
    for (size_t c = 0; c < k; c++) {
        double d = distance2(x, centroids + c * dims, dims);
        if (d < best_d) {
            best_d = d;
            best = c;
        }
    }
    return best;
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
    double *centroids, *sums;
    size_t *counts;
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
    farthest_first(p, k, centroids);
    for (size_t i = 0; i < p->count; i++) {
        labels[i] = -1;
    }
    while (iteration < max_iterations) {
        int changed = 0;
        iteration++;
        for (size_t i = 0; i < p->count; i++) {
            int best = (int)nearest(p->xs + i * dims, centroids, k, dims);
            if (best != labels[i]) {
                labels[i] = best;
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
    return iteration;
}

void free_points(points_t *points) {
    free(points->xs);
    points->xs = NULL;
    points->count = points->dims = 0;
}
