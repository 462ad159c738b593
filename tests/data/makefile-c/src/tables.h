#ifndef TABLES_H
#define TABLES_H
double scale_two(double x);
double scale_three(double x);
int weighted_sum(int a, int b);
int count_char(const char *text, int c);
#endif
