/* See svg.h. */
#include "svg.h"

void svg_text(FILE *f, const char *s, int max_chars) {
    int chars = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (max_chars > 0 && (*c & 0xc0) != 0x80 && ++chars > max_chars) {
            fputs("\xe2\x80\xa6", f);
            return;
        }
        if (*c == '<') fputs("&lt;", f);
        else if (*c == '>') fputs("&gt;", f);
        else if (*c == '&') fputs("&amp;", f);
        else if (*c == '"') fputs("&quot;", f);
        else fputc(*c, f);
    }
}
