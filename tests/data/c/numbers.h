/* Summing the integers of a text file: a second translation unit, so that the build cache
 * (one object file per source) has something to keep. */
#ifndef NUMBERS_H
#define NUMBERS_H

/* Reads whitespace-separated integers from PATH into *SUM and *COUNT.
 * Returns 0 on success, -1 when the file cannot be opened. */
int sum_numbers(const char *path, long *sum, long *count);

#endif
