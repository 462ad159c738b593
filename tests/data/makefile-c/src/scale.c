/* Compiled twice by the Makefile: SCALE_NAME and FACTOR differ. */
#include "tables.h"

double SCALE_NAME(double x) { return x * FACTOR; }
