import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planFolders } from '../src/engine/folder-mapping.js';
import type { StoreLayout } from '../src/engine/folder-mapping.js';
import type { FolderInfo, SpecialUse } from '../src/domain/mail-types.js';

function folder(path: string, delimiter: string | null = '/', specialUse: SpecialUse | null = null, selectable = true): FolderInfo {
  return { path, delimiter, flags: [], specialUse, selectable };
}
const layout = (folders: FolderInfo[], delimiter: string | null = '/', namespacePrefix = ''): StoreLayout => ({ folders, delimiter, namespacePrefix });
const exchangeTarget = layout([folder('INBOX'), folder('Sent Items', '/', '\\Sent'), folder('Deleted Items', '/', '\\Trash'), folder('Junk Email', '/', '\\Junk'), folder('Drafts', '/', '\\Drafts'), folder('Archive', '/', '\\Archive')]);
const targets = (plan: ReturnType<typeof planFolders>): Record<string, string> => Object.fromEntries(plan.folders.map((f) => [f.sourcePath, f.targetPath]));

test('special-use folders map to the target\'s, and their subfolders follow', () => {
  const plan = planFolders(layout([folder('INBOX'), folder('Sent', '/', '\\Sent'), folder('Sent/2019'), folder('Trash', '/', '\\Trash'), folder('Work')]), exchangeTarget);
  assert.deepEqual(targets(plan), { INBOX: 'INBOX', Sent: 'Sent Items', 'Sent/2019': 'Sent Items/2019', Trash: 'Deleted Items', Work: 'Work' });
  assert.deepEqual(plan.toCreate, ['Work', 'Sent Items/2019']);
});

test('without SPECIAL-USE, English and localized names are recognised (top level only)', () => {
  const plan = planFolders(layout([folder('INBOX'), folder('Gesendete Objekte'), folder('Papierkorb'), folder('Courrier indésirable'), folder('Projects/Sent')]), exchangeTarget);
  assert.deepEqual(targets(plan), { INBOX: 'INBOX', 'Gesendete Objekte': 'Sent Items', Papierkorb: 'Deleted Items', 'Courrier indésirable': 'Junk Email', 'Projects/Sent': 'Projects/Sent' });
  assert.ok(plan.folders.filter((f) => f.reason === 'name-guess').length === 3);
});

test('a target without special folders keeps the source names; Courier-style INBOX. prefixes and "." delimiters are translated', () => {
  const source = layout([folder('INBOX', '.'), folder('INBOX.Sent', '.'), folder('INBOX.Projects.2024', '.'), folder('INBOX.a/b', '.')], '.', 'INBOX.');
  const plan = planFolders(source, layout([folder('INBOX')]));
  assert.deepEqual(targets(plan), { INBOX: 'INBOX', 'INBOX.Sent': 'Sent', 'INBOX.Projects.2024': 'Projects/2024', 'INBOX.a/b': 'a_b' });
  const back = planFolders(layout([folder('INBOX'), folder('Projects/2024'), folder('x.y')]), layout([folder('INBOX', '.')], '.', 'INBOX.'));
  assert.deepEqual(targets(back), { INBOX: 'INBOX', 'Projects/2024': 'INBOX.Projects.2024', 'x.y': 'INBOX.x_y' });
});

test('exclusions: exact names, globs, tokens, case-insensitive, whole subtree; [Gmail] drops Gmail\'s virtual folders', () => {
  const source = layout([folder('INBOX'), folder('Junk', '/', '\\Junk'), folder('Junk/Sub'), folder('Lists'), folder('Lists/node'), folder('Archive 2019'), folder('Archive 2020'), folder('Keep'),
    folder('[Gmail]', '/', null, false), folder('[Gmail]/All Mail', '/', '\\All'), folder('[Gmail]/Sent Mail', '/', '\\Sent')]);
  const plan = planFolders(source, exchangeTarget, { exclude: ['#JunkEmail#', 'LISTS', 'archive 20??', '[Gmail]'] });
  assert.deepEqual(plan.folders.map((f) => f.sourcePath), ['INBOX', 'Keep']);
  assert.equal(plan.excluded.length, 9);
});

test('--folder includes only the named subtrees; --map renames with subfolders; UserRoot restricts and re-roots', () => {
  const source = layout([folder('INBOX'), folder('Projects'), folder('Projects/A'), folder('Old'), folder('Old/Sub')]);
  assert.deepEqual(planFolders(source, exchangeTarget, { include: ['projects'] }).folders.map((f) => f.sourcePath), ['Projects', 'Projects/A']);
  assert.deepEqual(targets(planFolders(source, exchangeTarget, { map: [{ from: 'Old', to: 'Archive/Old mail' }] })),
    { INBOX: 'INBOX', Projects: 'Projects', 'Projects/A': 'Projects/A', Old: 'Archive/Old mail', 'Old/Sub': 'Archive/Old mail/Sub' });
  const shared = layout([folder('users/alice/INBOX'), folder('users/alice/Sent'), folder('users/bob/INBOX')]);
  assert.deepEqual(targets(planFolders(shared, exchangeTarget, { userRoot: 'users/alice' })), { 'users/alice/INBOX': 'INBOX', 'users/alice/Sent': 'Sent Items' });
});

test('two source folders that land in one target folder are kept apart, with a warning', () => {
  const plan = planFolders(layout([folder('INBOX'), folder('Sent', '/', '\\Sent'), folder('Sent Items')]), exchangeTarget);
  const t = targets(plan);
  assert.notEqual(t.Sent, t['Sent Items']);
  assert.equal(plan.warnings.length, 1);
});
