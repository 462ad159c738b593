/* N-body benchmark (double precision): N bodies with softened gravity, integrated with
 * leapfrog (kick-drift-kick) for S steps; O(N^2) force evaluations per step, sqrt and
 * divisions in the inner loop. Prints the total energy before and after, so that builds
 * (native, wasm, other compilers) can be compared for their results as well as their time.
 *
 * usage: nbody [-n N] [-s STEPS]      (defaults: 1000 bodies, 100 steps)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double x, y, z, vx, vy, vz, ax, ay, az, m;
} Body;

static const double SOFTENING2 = 1e-4;

/* A fixed pseudo-random sequence (64-bit LCG): the same bodies everywhere. */
static unsigned long long seed = 42;
static double uniform(void) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(seed >> 11) / 9007199254740992.0;
}

static void accelerations(Body *b, int n) {
    for (int i = 0; i < n; i++) {
        double ax = 0, ay = 0, az = 0;
        for (int j = 0; j < n; j++) {
            double dx = b[j].x - b[i].x, dy = b[j].y - b[i].y, dz = b[j].z - b[i].z;
            double r2 = dx * dx + dy * dy + dz * dz + SOFTENING2;
            double inv = 1.0 / (r2 * sqrt(r2));
            ax += b[j].m * dx * inv;
            ay += b[j].m * dy * inv;
            az += b[j].m * dz * inv;
        }
        b[i].ax = ax;
        b[i].ay = ay;
        b[i].az = az;
    }
}

static double energy(const Body *b, int n) {
    double e = 0;
    for (int i = 0; i < n; i++) {
        e += 0.5 * b[i].m * (b[i].vx * b[i].vx + b[i].vy * b[i].vy + b[i].vz * b[i].vz);
        for (int j = i + 1; j < n; j++) {
            double dx = b[j].x - b[i].x, dy = b[j].y - b[i].y, dz = b[j].z - b[i].z;
            e -= b[i].m * b[j].m / sqrt(dx * dx + dy * dy + dz * dz + SOFTENING2);
        }
    }
    return e;
}

int main(int argc, char **argv) {
    int n = 1000, steps = 100;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            n = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
            steps = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: nbody [-n N] [-s STEPS]\n");
            return 2;
        }
    }
    if (n < 2 || steps < 0) {
        fprintf(stderr, "nbody: need n >= 2 and steps >= 0\n");
        return 2;
    }
    Body *b = calloc((size_t)n, sizeof *b);
    if (!b) {
        fprintf(stderr, "nbody: out of memory\n");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        b[i].x = uniform() * 2 - 1;
        b[i].y = uniform() * 2 - 1;
        b[i].z = uniform() * 2 - 1;
        b[i].vx = (uniform() - 0.5) * 0.1;
        b[i].vy = (uniform() - 0.5) * 0.1;
        b[i].vz = (uniform() - 0.5) * 0.1;
        b[i].m = 1.0 / n;
    }
    const double dt = 1e-3;
    double e0 = energy(b, n);
    accelerations(b, n);
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < n; i++) {
            b[i].vx += 0.5 * dt * b[i].ax;
            b[i].vy += 0.5 * dt * b[i].ay;
            b[i].vz += 0.5 * dt * b[i].az;
            b[i].x += dt * b[i].vx;
            b[i].y += dt * b[i].vy;
            b[i].z += dt * b[i].vz;
        }
        accelerations(b, n);
        for (int i = 0; i < n; i++) {
            b[i].vx += 0.5 * dt * b[i].ax;
            b[i].vy += 0.5 * dt * b[i].ay;
            b[i].vz += 0.5 * dt * b[i].az;
        }
    }
    printf("nbody: %d bodies, %d steps, energy %.12f -> %.12f\n", n, steps, e0, energy(b, n));
    free(b);
    return 0;
}
