/**
 * The web playground in a real headless browser (Debian's chromium through playwright-core),
 * against the real server on a tiny model of every task: a photo goes in through the file
 * input and every panel shows its answer; streamed text arrives in parts; the page passes axe
 * (no serious or critical violations) on desktop, at 375×667 and in the dark scheme, under its
 * strict Content-Security-Policy. Screenshots go to MMS_ARTIFACTS_DIR (default: the OS temp dir).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { playgroundDir } from '../../src/server/http/playground-routes.js';
import type { RunningServer } from '../../src/server/server.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { everyTaskModelFlags } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const ARTIFACTS = process.env.MMS_ARTIFACTS_DIR ?? path.join(os.tmpdir(), 'mms-playground-artifacts');
const AXE_SOURCE = path.join(process.cwd(), 'node_modules', 'axe-core', 'axe.min.js');
/** coffee.png is 600×400: the attention overlay must come back at the photo's size. */
const PHOTO = { file: 'coffee.png' as const, width: 600, height: 400 };
const MODEL_IDS = ['captioner', 'chat', 'clip', 'vit'];

type AxeViolation = { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] };

describe('web playground', () => {
  let server: RunningServer;
  let base: string;
  let scratch: string;
  let context: BrowserContext;
  let page: Page;
  /** Console errors, uncaught page errors and CSP violations, all of which fail the test. */
  const problems: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM}: run npm run setup (apt package chromium), or set CHROMIUM_PATH`);
    scratch = mkdtempSync(path.join(os.tmpdir(), 'mms-playground-'));
    // A cache dir of its own, so the alignment picker lists exactly the one fitted here.
    server = await startTestServer(await everyTaskModelFlags(), { cacheDir: path.join(scratch, 'server-cache') });
    const address = server.http.address();
    assert.ok(address && typeof address === 'object');
    base = `http://127.0.0.1:${address.port}`;
    const examples = Array.from({ length: 8 }, (_, i) => ({ label: ['cat', 'dog'][i % 2], embedding: Array.from({ length: 16 }, (_, d) => Math.sin(i * 16 + d)) }));
    const fitted = await fetch(`${base}/v1/zero-shot/alignments`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'pets', model: 'clip', strategy: 'plain', examples }) });
    assert.equal(fitted.status, 200, await fitted.text());
    mkdirSync(ARTIFACTS, { recursive: true });
    // A fresh browser profile each run (the user data dir).
    context = await chromium.launchPersistentContext(path.join(scratch, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    // DevTools-injected scripts are exempt from the page's CSP: this one only reports violations.
    await page.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { cspViolations: string[] }).cspViolations = seen;
      document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`));
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  });

  after(async () => {
    await context?.close();
    await server?.close();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const assertNoProblems = async () => {
    assert.deepEqual(await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations), [], 'no CSP violations');
    assert.deepEqual(problems, [], 'no console errors or page errors');
  };

  const screenshot = async (name: string) => {
    const file = path.join(ARTIFACTS, name);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`playground screenshot: ${file}`);
  };

  /** axe-core in the page; the violations that are serious or critical. */
  async function axeViolations(): Promise<AxeViolation[]> {
    // Evaluated through DevTools, not page.addScriptTag: the page's CSP rightly refuses an inline <script>.
    if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(readFileSync(AXE_SOURCE, 'utf8'));
    const violations = await page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run: (context: Document, options: object) => Promise<{ violations: AxeViolation[] }> } }).axe;
      return (await axe.run(document, { resultTypes: ['violations'] })).violations;
    });
    return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  }

  const describeViolations = (violations: AxeViolation[]) =>
    violations.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`).join('\n');

  /** Whether an <img> has loaded its current source; its natural size. */
  const imageState = (selector: string) =>
    page.$eval(selector, (img: HTMLImageElement) => ({ src: img.src, complete: img.complete && img.naturalWidth > 0, width: img.naturalWidth, height: img.naturalHeight, visible: !img.closest('[hidden]') }));

  /** A digest of the pixels an image shows now (drawn on a canvas: the CSP's connect-src keeps fetch off blob: URLs). */
  const imageDigest = (selector: string) =>
    page.$eval(selector, async (img: HTMLImageElement) => {
      const canvas = document.createElement('canvas');
      [canvas.width, canvas.height] = [img.naturalWidth, img.naturalHeight];
      const context = canvas.getContext('2d')!;
      context.drawImage(img, 0, 0);
      const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
      return Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', pixels)), (b) => b.toString(16).padStart(2, '0')).join('');
    });

  it('serves the page and its files with their content types, caching headers and a strict CSP', async () => {
    const index = await fetch(`${base}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const csp = index.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: blob:", "object-src 'none'", "frame-ancestors 'none'"]) {
      assert.ok(csp.includes(directive), `CSP has ${directive}: ${csp}`);
    }
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
    const html = await index.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    assert.doesNotMatch(html, /\son[a-z]+=|\sstyle=/i, 'no inline handlers or styles');
    assert.doesNotMatch(html, /(src|href)="https?:/, 'nothing from another origin');
    const files = {
      '/playground/playground.js': /^text\/javascript/,
      '/playground/playground.css': /^text\/css/,
      '/playground/samples/cat.jpg': /^image\/jpeg/,
    };
    for (const [file, type] of Object.entries(files)) {
      const res = await fetch(`${base}${file}`);
      assert.equal(res.status, 200, file);
      assert.match(res.headers.get('content-type') ?? '', type, file);
      assert.ok(res.headers.get('content-security-policy'), `${file} has the CSP`);
      assert.ok(res.headers.get('etag'), `${file} can be revalidated`);
      assert.equal(res.headers.get('cache-control'), file.includes('/samples/') ? 'public, max-age=86400' : 'no-cache', file);
      assert.ok(Number(res.headers.get('content-length')) <= 40_000 || !file.endsWith('.jpg'), 'samples stay small');
    }
    assert.equal((await fetch(`${base}/playground/missing.js`)).status, 404);
    // The compiled server (dist/src/server/http/) finds the folder in the sources above it.
    assert.equal(playgroundDir(path.join(process.cwd(), 'dist', 'src', 'server', 'http')), path.join(process.cwd(), 'src', 'server', 'playground'));
  });

  it('answers in every panel for a photo from the file input', async () => {
    const chatBodies: { messages: { role: string; content: unknown }[] }[] = [];
    page.on('request', (request) => {
      if (request.url().endsWith('/v1/chat/completions')) chatBodies.push(JSON.parse(request.postData() ?? '{}'));
    });
    await page.goto(`${base}/`);
    await page.waitForFunction((n) => document.querySelectorAll('#models-list li.model-card').length === n, MODEL_IDS.length);
    const cards = await page.$$eval('#models-list li.model-card', (items) => items.map((li) => ({ id: li.querySelector('h3')?.textContent, text: li.textContent ?? '' })));
    assert.deepEqual(cards.map((c) => c.id).sort(), MODEL_IDS);
    for (const card of cards) {
      assert.match(card.text, /stateready/, `${card.id} is ready`);
      assert.match(card.text, /providercpu/, `${card.id} runs on cpu`);
      assert.match(card.text, /variantfp32/, `${card.id} names its variant`);
    }

    await page.setInputFiles('#image-file', sharedImage(PHOTO.file));

    // Classification: top 5 as bars.
    await page.waitForFunction(() => document.querySelectorAll('#classify-results li').length === 5);
    const bars = await page.$$eval('#classify-results li', (items) => items.map((li) => ({ value: li.querySelector('.bar-value')?.textContent ?? '', width: (li.querySelector('.bar-fill') as HTMLElement).style.width })));
    assert.ok(bars.every((b) => /^\d+\.\d%$/.test(b.value) && /%$/.test(b.width)), JSON.stringify(bars));
    // Zero-shot: one bar per label (the default four).
    await page.waitForFunction(() => document.querySelectorAll('#zero-shot-results li').length === 4);
    const zeroShotLabels = await page.$$eval('#zero-shot-results .bar-label', (spans) => spans.map((s) => s.textContent).sort());
    assert.deepEqual(zeroShotLabels, ['cat', 'coffee cup', 'dog', 'rocket']);

    // Attention: the overlay is the photo's size; the mosaic and the localisation maps appear.
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('#attention-image')!;
      return img.complete && img.naturalWidth > 0 && !img.closest('[hidden]');
    });
    const overlay = await imageState('#attention-image');
    assert.deepEqual([overlay.width, overlay.height], [PHOTO.width, PHOTO.height], 'the overlay has the photo size');
    for (const selector of ['#attention-mosaic', '#localize-image']) {
      await page.waitForFunction((s) => {
        const img = document.querySelector<HTMLImageElement>(s)!;
        return img.complete && img.naturalWidth > 0 && !img.closest('[hidden]');
      }, selector);
    }
    assert.match(await page.textContent('#localize-caption') ?? '', /Image-level scores: .*%/);

    // Changing the head asks again, and the map changes.
    const before = await imageDigest('#attention-image');
    await page.selectOption('#attention-head', '0');
    await page.waitForFunction((src) => {
      const img = document.querySelector<HTMLImageElement>('#attention-image')!;
      return img.src !== src && img.complete && img.naturalWidth > 0;
    }, overlay.src);
    assert.notEqual(await imageDigest('#attention-image'), before, 'head 0 shows another map than the mean');
    assert.match(await page.getAttribute('#attention-image', 'alt') ?? '', /head 0/);

    // Caption: streamed, then the whole answer.
    await page.waitForFunction(() => /tokens/.test(document.querySelector('#caption-status')?.textContent ?? ''));
    assert.ok((await page.textContent('#caption-text'))!.length > 0, 'a caption');

    // Chat: the answer arrives in parts; each turn sends the whole conversation, the photo in the first.
    await page.evaluate(() => {
      const snapshots: string[] = [];
      (window as unknown as { chatSnapshots: string[] }).chatSnapshots = snapshots;
      new MutationObserver(() => {
        const answers = document.querySelectorAll('#chat-log .chat-turn.assistant .text');
        const text = answers[answers.length - 1]?.textContent ?? '';
        if (text && text !== snapshots[snapshots.length - 1]) snapshots.push(text);
      }).observe(document.querySelector('#chat-log')!, { childList: true, subtree: true, characterData: true });
    });
    const ask = async (question: string, turns: number) => {
      await page.fill('#chat-input', question);
      await page.press('#chat-input', 'Enter');
      await page.waitForFunction((n) => document.querySelectorAll('#chat-log .chat-turn').length === n && !(document.querySelector('#chat-send') as HTMLButtonElement).disabled, turns);
    };
    await ask('What is in this picture?', 2);
    const snapshots = await page.evaluate(() => (window as unknown as { chatSnapshots: string[] }).chatSnapshots);
    const answer = await page.textContent('#chat-log .chat-turn.assistant .text');
    assert.ok(answer, 'an answer');
    assert.equal(snapshots[snapshots.length - 1], answer);
    const partials = snapshots.slice(0, -1);
    assert.ok(partials.length >= 2, `at least two partial updates before the final one: ${JSON.stringify(snapshots)}`);
    assert.ok(partials.every((p) => answer.startsWith(p) && p.length < answer.length), 'each partial is a beginning of the answer');
    await ask('And what colour is it?', 4);
    assert.equal(chatBodies.length, 2);
    assert.equal(chatBodies[0]!.messages.length, 1);
    const [first, reply, second] = chatBodies[1]!.messages;
    assert.deepEqual(chatBodies[1]!.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    assert.deepEqual(first, chatBodies[0]!.messages[0], 'the first turn, photo included, is sent again');
    assert.match(JSON.stringify(first!.content), /"type":"image_url","image_url":\{"url":"data:image\/png;base64,/);
    assert.deepEqual(reply, { role: 'assistant', content: answer });
    assert.deepEqual(second, { role: 'user', content: 'And what colour is it?' });
    assert.equal(await page.textContent('#chat-error'), '');

    // Throughput: a rate over the requests just made, and per model.
    await page.waitForFunction(() => Number(document.querySelector('#throughput-rate')?.textContent) > 0, undefined, { timeout: 15_000 });
    assert.match(await page.textContent('#throughput-rate') ?? '', /^\d+\.\d\d$/);
    assert.match(await page.textContent('#models-list li[data-model="vit"] dd:last-of-type') ?? '', /^\d+\.\d items\/s$/);

    for (const id of ['classify', 'zero-shot', 'attention', 'localize', 'caption', 'chat', 'models', 'image']) {
      assert.equal(await page.textContent(`#${id}-error`), '', `${id}: no error`);
    }
    await assertNoProblems();
    await screenshot('playground-desktop.png');
  });

  it('has no serious or critical axe violations, on desktop, at 375×667 and in the dark scheme', async () => {
    const desktop = await axeViolations();
    assert.equal(desktop.length, 0, describeViolations(desktop));

    await page.setViewportSize({ width: 375, height: 667 });
    const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, viewport: window.innerWidth }));
    assert.ok(widths.page <= widths.viewport, `no horizontal scroll at 375 px: ${JSON.stringify(widths)}`);
    const columns = await page.$$eval('.panels > .panel', (panels) => new Set(panels.map((p) => Math.round(p.getBoundingClientRect().left))).size);
    assert.equal(columns, 1, 'one column');
    const phone = await axeViolations();
    assert.equal(phone.length, 0, describeViolations(phone));
    await screenshot('playground-phone.png');

    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = await axeViolations();
    assert.equal(dark.length, 0, describeViolations(dark));
    await screenshot('playground-phone-dark.png');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('works from the keyboard, with a visible focus', async () => {
    await page.focus('button[data-sample="cat.jpg"]');
    const outline = await page.$eval('button[data-sample="cat.jpg"]', (b) => getComputedStyle(b).outlineStyle);
    assert.notEqual(outline, 'none', 'the focused button shows it');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('#attention-image')!;
      return img.complete && img.naturalWidth === 451 && img.naturalHeight === 300;
    });
    assert.match(await page.textContent('#photo-caption') ?? '', /cat\.jpg, 451 × 300/);
    // The file input itself takes focus (its label is the visible button) and shows it.
    await page.focus('#image-file');
    const labelOutline = await page.$eval('label[for="image-file"]', (l) => getComputedStyle(l).outlineStyle);
    assert.notEqual(labelOutline, 'none');
    // Every control has a label.
    const unlabelled = await page.$$eval('input, select, textarea, button', (controls) =>
      controls.filter((c) => !(c as HTMLInputElement).labels?.length && !c.getAttribute('aria-label') && !c.textContent?.trim() && !(c as HTMLInputElement).hidden).map((c) => c.outerHTML),
    );
    assert.deepEqual(unlabelled, []);
  });

  it('takes a dropped photo, and asks again when a control changes', async () => {
    // A drop on the drop zone, as a file manager would make it.
    await page.evaluate(async () => {
      const blob = await (await fetch('/playground/samples/rocket.jpg')).blob();
      const data = new DataTransfer();
      data.items.add(new File([blob], 'rocket.jpg', { type: 'image/jpeg' }));
      document.querySelector('#drop-zone')!.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    });
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('#attention-image')!;
      return img.complete && img.naturalWidth === 480 && img.naturalHeight === 320;
    });
    assert.match(await page.textContent('#photo-caption') ?? '', /rocket\.jpg, 480 × 320/);

    // Zero-shot: the ensemble's 16 templates per label, the descriptive strategy, the fitted alignment.
    // Playwright does not show multipart bodies holding a file: the page's fetch records the fields.
    await page.evaluate(() => {
      const sent: Record<string, string>[] = [];
      (window as unknown as { zeroShotFields: typeof sent }).zeroShotFields = sent;
      const original = window.fetch;
      window.fetch = (input, init) => {
        if (String(input).endsWith('/v1/zero-shot') && init?.body instanceof FormData) {
          sent.push(Object.fromEntries([...init.body.entries()].filter(([, v]) => typeof v === 'string')) as Record<string, string>);
        }
        return original(input, init);
      };
    });
    const score = async (expect: RegExp) => {
      await page.evaluate(() => void (document.querySelector('#zero-shot-status')!.textContent = ''));
      await page.click('#zero-shot-form button[type="submit"]');
      await page.waitForFunction(() => /Answered/.test(document.querySelector('#zero-shot-status')?.textContent ?? '') || document.querySelector('#zero-shot-error')?.textContent);
      assert.equal(await page.textContent('#zero-shot-error'), '');
      assert.match(await page.textContent('#zero-shot-status') ?? '', expect);
    };
    await page.selectOption('#zero-shot-strategy', 'ensemble');
    await score(/ 64 prompts/);
    await page.selectOption('#zero-shot-strategy', 'descriptive');
    assert.match(await page.inputValue('#zero-shot-descriptions'), /^cat: a photo of a cat; a close-up photo of a cat$/m, 'prefilled, a line per label');
    await score(/ 8 prompts/);
    assert.deepEqual(await page.$$eval('#zero-shot-alignment option', (options) => options.map((o) => (o as HTMLOptionElement).value)), ['', 'pets']);
    await page.selectOption('#zero-shot-strategy', 'plain');
    await page.selectOption('#zero-shot-alignment', 'pets');
    await score(/ 4 prompts/);
    const sent = await page.evaluate(() => (window as unknown as { zeroShotFields: Record<string, string>[] }).zeroShotFields);
    assert.deepEqual(sent.map((fields) => fields.strategy), ['ensemble', 'descriptive', 'plain']);
    assert.deepEqual(JSON.parse(sent[1]!.descriptions!).dog, ['a photo of a dog', 'a close-up photo of a dog']);
    assert.equal(sent[2]!.alignment, 'pets');
    assert.deepEqual(JSON.parse(sent[2]!.labels!), ['cat', 'dog', 'coffee cup', 'rocket']);

    // Attention: similarity has no heads (no head choice, no mosaic); rollout starts at a layer.
    const overlaySrc = async () => (await imageState('#attention-image')).src;
    const changedFrom = (src: string) =>
      page.waitForFunction((old) => {
        const img = document.querySelector<HTMLImageElement>('#attention-image')!;
        return img.src !== old && img.complete && img.naturalWidth > 0 && document.querySelector('#attention-status')?.textContent !== 'Computing attention…';
      }, src);
    let src = await overlaySrc();
    await page.selectOption('#attention-method', 'similarity');
    await changedFrom(src);
    assert.equal(await page.isDisabled('#attention-head'), true);
    assert.equal(await page.isHidden('#attention-mosaic-figure'), true);
    assert.match(await page.textContent('#attention-status') ?? '', /no heads/);
    src = await overlaySrc();
    await page.selectOption('#attention-method', 'rollout');
    await changedFrom(src);
    assert.equal(await page.textContent('#attention-layer-label'), 'Start layer');
    assert.equal(await page.inputValue('#attention-layer'), '0');
    assert.equal(await page.isVisible('#attention-mosaic'), true);
    src = await overlaySrc();
    await page.selectOption('#attention-model', 'clip');
    await changedFrom(src);
    assert.match(await page.getAttribute('#attention-image', 'alt') ?? '', /^Attention heat-map of clip over the photo: rollout from layer 0/);
    assert.equal(await page.textContent('#attention-error'), '');
    await assertNoProblems();
  });

  it('sends the API key on every call and says what to do on 401, 403 and 429', async () => {
    await page.fill('#api-key', 'test-key-123');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('mms-playground.api-key')), 'test-key-123');
    const authorizations: (string | undefined)[] = [];
    const listener = (request: import('playwright-core').Request) => {
      if (new URL(request.url()).pathname.startsWith('/v1/')) authorizations.push(request.headers()['authorization']);
    };
    page.on('request', listener);
    await page.click('#classify-form button[type="submit"]');
    await page.waitForFunction(() => /Answered/.test(document.querySelector('#classify-status')?.textContent ?? ''));
    page.off('request', listener);
    assert.ok(authorizations.length > 0 && authorizations.every((a) => a === 'Bearer test-key-123'), JSON.stringify(authorizations));

    const refusals = [
      { status: 401, code: 'unauthorized', expect: /did not accept the API key/ },
      { status: 403, code: 'forbidden', expect: /not allowed/ },
      { status: 429, code: 'rate_limited', expect: /Too many requests for this API key\. Try again in 7 s/ },
    ];
    for (const refusal of refusals) {
      await page.route('**/v1/classify', (route) =>
        route.fulfill({ status: refusal.status, headers: { 'Retry-After': '7' }, contentType: 'application/json', body: JSON.stringify({ error: { code: refusal.code, message: 'refused by the test' } }) }),
      );
      await page.click('#classify-form button[type="submit"]');
      await page.waitForFunction(() => (document.querySelector('#classify-error')?.textContent ?? '') !== '');
      const message = (await page.textContent('#classify-error')) ?? '';
      assert.match(message, refusal.expect);
      assert.match(message, new RegExp(`${refusal.code}: refused by the test`));
      await page.unroute('**/v1/classify');
      await page.evaluate(() => void (document.querySelector('#classify-error')!.textContent = ''));
    }
    await page.click('#api-key-clear');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('mms-playground.api-key')), null);
  });
});
