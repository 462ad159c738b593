/* A native helper with its own main(): not part of the program (the Makefile leaves it out;
 * an automatic build of every .c file would fail with two main functions). */
#include <stdio.h>

int main(void) {
    puts("tool");
    return 0;
}
