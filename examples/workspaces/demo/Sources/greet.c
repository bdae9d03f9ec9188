#include <stdio.h>

int main(void) {
    puts("hello from the demo workspace");
    return 0;
}
