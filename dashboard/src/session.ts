/** The admin key for this browser tab: sessionStorage, so it goes when the tab does. */
const STORAGE_KEY = "chatport.adminKey";

export function loadKey(): string | null {
  try {
    const key = sessionStorage.getItem(STORAGE_KEY);
    return key === null || key === "" ? null : key;
  } catch {
    return null;
  }
}

export function saveKey(key: string): void {
  try {
    sessionStorage.setItem(STORAGE_KEY, key);
  } catch {
    // Storage may be disabled; the key then lives only in memory for this page.
  }
}

export function clearKey(): void {
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // nothing stored
  }
}
