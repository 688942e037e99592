#!/usr/bin/env node
// Reads each feed URL given on the command line with rss-parser and prints
// one JSON object: {"<url>": <rss-parser's feed object>, ...}.
// Any failure (HTTP status, XML error, timeout) exits non-zero with the URL
// and the message on stderr, so the calling test sees which feed broke.
"use strict";

const Parser = require("rss-parser");

async function main(urls) {
  if (urls.length === 0) {
    process.stderr.write("usage: read.js URL...\n");
    return 2;
  }
  const parser = new Parser({
    // A short timeout: the feeds come from a server on 127.0.0.1.
    timeout: 10000,
    // rss-parser maps no Atom <category>; customFields is its documented way
    // to keep an element, here every one of them with its attributes.
    customFields: { item: [["category", "allCategories", { keepArray: true }]] },
  });
  const out = {};
  for (const url of urls) {
    try {
      out[url] = await parser.parseURL(url);
    } catch (err) {
      process.stderr.write(`read.js: ${url}: ${err && err.message ? err.message : err}\n`);
      return 1;
    }
  }
  process.stdout.write(JSON.stringify(out));
  return 0;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
