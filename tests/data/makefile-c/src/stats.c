#include "tables.h"

/* Called by name from a task: params = ["weighted_sum", a, b]. */
int weighted_sum(int a, int b) { return 2 * a + 3 * b; }

/* A string argument: params = ["count_char", "banana", 97]. */
int count_char(const char *text, int c) {
    int n = 0;
    for (; *text; text++) n += (*text == c);
    return n;
}
