/* What the CLI's SVG charts (bench, limits, quality) share. */
#ifndef CLLAMA_SVG_H
#define CLLAMA_SVG_H

#include <stdio.h>

/* Writes s as XML text (& < > " escaped); with max_chars > 0, cut to that many
 * characters (UTF-8 aware) with an ellipsis. A file's general.name may hold anything. */
void svg_text(FILE *f, const char *s, int max_chars);

#endif
