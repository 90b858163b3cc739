/* Prints that main was reached. Used to show that a malformed MEMGROUP_*
 * variable stops the program before main. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  char* p = malloc(100);
  if (p == NULL) return 1;
  free(p);
  puts("main reached");
  return 0;
}
