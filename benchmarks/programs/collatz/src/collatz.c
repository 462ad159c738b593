/* Branchy integer benchmark: the longest Collatz chain of the starting values below N
 * (64-bit arithmetic, a data-dependent branch per step, every chain walked to 1), and a
 * histogram of the lengths. Prints the start of the longest chain, its
 * length and a checksum of the histogram, so that builds can be compared for their
 * results as well as their time.
 *
 * usage: collatz [-n N]      (default: 1,000,000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    long n = 1000000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            n = atol(argv[++i]);
        }
    }
    if (n < 2) {
        fprintf(stderr, "collatz: -n must be at least 2\n");
        return 2;
    }
    uint64_t histogram[1024] = {0};
    long best = 1;
    unsigned best_length = 1;
    for (long start = 2; start < n; start++) {
        uint64_t x = (uint64_t)start;
        unsigned length = 1;
        while (x != 1) {
            if (x & 1) {
                x = 3 * x + 1;
            } else {
                x >>= 1;
            }
            length++;
        }
        histogram[length & 1023]++;
        if (length > best_length) {
            best_length = length;
            best = start;
        }
    }
    uint64_t checksum = 0;
    for (int i = 0; i < 1024; i++) {
        checksum = checksum * 31 + histogram[i];
    }
    printf("longest chain below %ld starts at %ld: %u steps (checksum %llu)\n", n, best, best_length,
           (unsigned long long)checksum);
    return 0;
}
