/* Reads /tables/base.txt (preloaded from the filesystem directory by the Makefile's
 * --preload-file), scales every number by 2 and by 3, writes /out/scaled.txt. */
#include <stdio.h>
#include <string.h>
#include "tables.h"

int main(int argc, char **argv) {
    const char *label = argc > 1 ? argv[1] : "tables";
    FILE *in = fopen("/tables/base.txt", "r");
    if (!in) {
        fprintf(stderr, "%s: /tables/base.txt is missing\n", label);
        return 3;
    }
    FILE *out = fopen("/out/scaled.txt", "w");
    if (!out) {
        fprintf(stderr, "%s: cannot write /out/scaled.txt\n", label);
        return 4;
    }
    double x;
    int n = 0;
    while (fscanf(in, "%lf", &x) == 1) {
        fprintf(out, "%g %g\n", scale_two(x), scale_three(x));
        n++;
    }
    fclose(in);
    fclose(out);
    printf("%s: scaled %d numbers\n", label, n);
    return 0;
}
