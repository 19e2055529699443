/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_PNG_H
#define HIGHRISE_CLIENT_PNG_H

/*
 * Writes a picture as a PNG file with libpng (its "simplified API"). The
 * file appears whole or not at all: it is written next to the destination
 * under a temporary name and renamed into place, so a health check that
 * polls for it never reads half a picture. The file is made with mode 0600:
 * a desktop's picture may show private things.
 *
 * Note: this header shares its name with libpng's; code that needs libpng
 * itself includes <libpng16/png.h>.
 */

#include <stdint.h>

/*
 * Writes width x height RGB24 pixels (R,G,B bytes, rows of stride bytes,
 * top down; borrowed) to path as an 8-bit RGB PNG. Returns 0, -EINVAL for
 * a bad size or stride, -errno when the file cannot be written, or -EIO
 * when libpng fails (the reason is logged). Any thread.
 */
int png_write_file(const char *path, const uint8_t *rgb, int width, int height, int stride);

#endif
