export { type ChangeResult, Changer, ConfChangeError, restore } from "./confchange.ts";
