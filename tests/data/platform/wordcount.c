/* A command-line program for the platform-style C loader test: counts the words of
 * /input/text.txt, writes the count to /count.txt, prints it with argv[1] as a label. */
#include <stdio.h>

int main(int argc, char **argv) {
    FILE *in = fopen("/input/text.txt", "r");
    if (!in) {
        fprintf(stderr, "no /input/text.txt\n");
        return 2;
    }
    int words = 0, c, inside = 0;
    while ((c = fgetc(in)) != EOF) {
        int space = c == ' ' || c == '\n' || c == '\t';
        if (!space && !inside) words++;
        inside = !space;
    }
    fclose(in);
    FILE *out = fopen("/count.txt", "w");
    fprintf(out, "%d\n", words);
    fclose(out);
    printf("%s: %d words\n", argc > 1 ? argv[1] : "text", words);
    return 0;
}
