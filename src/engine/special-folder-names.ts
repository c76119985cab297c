import type { SpecialUse } from '../domain/mail-types.js';

/**
 * Names that servers without SPECIAL-USE (RFC 6154) give their special folders, including common
 * localized ones. Matched case-insensitively on top-level folders only.
 */
export const SPECIAL_FOLDER_NAMES: Readonly<Record<'\\Sent' | '\\Trash' | '\\Junk' | '\\Drafts' | '\\Archive', readonly string[]>> = {
  '\\Sent': ['Sent', 'Sent Items', 'Sent Messages', 'Sent Mail', 'Gesendet', 'Gesendete Objekte', 'Gesendete Elemente',
    'Envoyés', 'Éléments envoyés', 'Messages envoyés', 'Enviados', 'Elementos enviados', 'Itens Enviados', 'Inviati',
    'Posta inviata', 'Verzonden', 'Verzonden items', 'Skickat', 'Skickade objekt', 'Sendt', 'Wysłane', 'Odeslané', 'Отправленные'],
  '\\Trash': ['Trash', 'Deleted Items', 'Deleted Messages', 'Deleted', 'Bin', 'Papierkorb', 'Gelöschte Elemente', 'Gelöschte Objekte',
    'Corbeille', 'Éléments supprimés', 'Papelera', 'Elementos eliminados', 'Itens Excluídos', 'Lixeira', 'Cestino',
    'Posta eliminata', 'Prullenbak', 'Verwijderde items', 'Papperskorgen', 'Borttagna objekt', 'Kosz', 'Koš', 'Корзина'],
  '\\Junk': ['Junk', 'Junk Email', 'Junk E-mail', 'Junk Mail', 'Spam', 'Bulk Mail', 'Junk-E-Mail', 'Courrier indésirable',
    'Correo no deseado', 'Lixo Eletrônico', 'Posta indesiderata', 'Ongewenste e-mail', 'Skräppost', 'Spam-Ordner', 'Спам'],
  '\\Drafts': ['Drafts', 'Draft', 'Entwürfe', 'Brouillons', 'Borradores', 'Rascunhos', 'Bozze', 'Concepten', 'Utkast', 'Kladder',
    'Wersje robocze', 'Koncepty', 'Черновики'],
  '\\Archive': ['Archive', 'Archives', 'Archiv', 'Archivo', 'Arquivo', 'Archivio', 'Archief', 'Arkiv', 'Archiwum', 'Архив'],
};

/** Tokens admins know from Exchange's ExcludeFolders, mapped to the special use they stand for. */
export const EXCLUSION_TOKENS: Readonly<Record<string, SpecialUse>> = {
  '#junkemail#': '\\Junk',
  '#junk#': '\\Junk',
  '#deleteditems#': '\\Trash',
  '#trash#': '\\Trash',
  '#drafts#': '\\Drafts',
  '#sentitems#': '\\Sent',
  '#sent#': '\\Sent',
  '#archive#': '\\Archive',
};

export function guessSpecialUse(name: string): SpecialUse | null {
  const lower = name.toLowerCase();
  for (const [use, names] of Object.entries(SPECIAL_FOLDER_NAMES)) {
    if (names.some((n) => n.toLowerCase() === lower)) return use as SpecialUse;
  }
  return null;
}
