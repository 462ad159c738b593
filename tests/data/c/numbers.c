#include <stdio.h>

#include "numbers.h"

int sum_numbers(const char *path, long *sum, long *count) {
    FILE *f = fopen(path, "r");
    long value;
    if (f == NULL) {
        return -1;
    }
    *sum = 0;
    *count = 0;
    while (fscanf(f, "%ld", &value) == 1) {
        *sum += value;
        *count += 1;
    }
    fclose(f);
    return 0;
}
